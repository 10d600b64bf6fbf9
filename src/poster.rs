//! Station posters: a printable page (SVG or PNG, A4 or A6) with the QR code of a station's
//! screening link, the station's name, the first crisis line and a line on privacy.
//!
//! Layer: use case, pure (no I/O). The QR code is encoded by the `qrcode` crate; the PNG is
//! drawn here and written by the `png` crate. The PNG carries the QR code, the link and the
//! hotline's number only
//! (its text is drawn from the 8x8 ASCII bitmaps of `font8x8`, since Chinese text in a raster
//! needs a CJK font file); the SVG carries the full text and is the one to print.

use qrcode::{Color, EcLevel, QrCode};

/// The screening a station's QR code opens.
pub const QR_QUESTIONNAIRE: &str = "rider_wellbeing";

/// The paper size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    A4,
    A6,
}

impl Size {
    /// `a4` or `a6`.
    pub fn parse(s: &str) -> Option<Size> {
        match s {
            "a4" | "A4" => Some(Size::A4),
            "a6" | "A6" => Some(Size::A6),
            _ => None,
        }
    }

    /// Width and height in millimetres.
    fn mm(self) -> (u32, u32) {
        match self {
            Size::A4 => (210, 297),
            Size::A6 => (105, 148),
        }
    }

    /// A6 is half of A4 in each direction: the layout is drawn at A4 and scaled.
    fn scale(self) -> f64 {
        match self {
            Size::A4 => 1.0,
            Size::A6 => 0.5,
        }
    }
}

/// What a poster shows.
#[derive(Debug, Clone)]
pub struct Poster {
    /// The full link in the QR code.
    pub url: String,
    pub station: String,
    pub hotline_name: String,
    pub hotline_number: String,
}

/// The privacy line (zh-CN: posters hang at stations in mainland China).
pub const PRIVACY_LINE: &str =
    "匿名自测：站点、平台和雇主都看不到您的答案；留联系方式须您另行同意。";
const HEADING: &str = "骑手心理健康自测";
const CALL: &str = "手机扫码，约 3 分钟";

#[derive(Debug, thiserror::Error)]
pub enum PosterError {
    #[error("the link is too long for a QR code: {0}")]
    TooLong(String),
}

/// The link a station's QR code holds: `{public_url}/s/rider_wellbeing?site={slug}`.
pub fn station_url(public_url: &str, slug: &str) -> String {
    format!(
        "{}/s/{QR_QUESTIONNAIRE}?site={slug}",
        public_url.trim_end_matches('/')
    )
}

/// The QR code's modules, row by row (`true` dark), and its width.
fn modules(url: &str) -> Result<(Vec<bool>, usize), PosterError> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| PosterError::TooLong(e.to_string()))?;
    let width = code.width();
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Ok((dark, width))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The poster as SVG, in millimetres (prints at true size). Presentation attributes only, no
/// `style`: the API's Content-Security-Policy forbids inline styles.
pub fn svg(poster: &Poster, size: Size) -> Result<String, PosterError> {
    let (dark, width) = modules(&poster.url)?;
    let (w, h) = size.mm();
    // Laid out on A4 (210 x 297), scaled for A6.
    let qr_mm = 150.0;
    let quiet = 4.0; // modules of white around the code
    let module = qr_mm / (width as f64 + 2.0 * quiet);
    let qr_x = (210.0 - qr_mm) / 2.0;
    let qr_y = 62.0;
    let mut path = String::new();
    for y in 0..width {
        for x in 0..width {
            if dark[y * width + x] {
                path.push_str(&format!(
                    "M{:.3} {:.3}h{m:.3}v{m:.3}h-{m:.3}z",
                    qr_x + (x as f64 + quiet) * module,
                    qr_y + (y as f64 + quiet) * module,
                    m = module
                ));
            }
        }
    }
    let fonts = "Noto Sans CJK SC, WenQuanYi Micro Hei, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif";
    let text = |y: f64, px: f64, weight: &str, body: &str| {
        format!(
            "<text x=\"105\" y=\"{y}\" font-size=\"{px}\" font-weight=\"{weight}\" text-anchor=\"middle\" font-family=\"{fonts}\" fill=\"#111\">{}</text>\n",
            escape(body)
        )
    };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}mm\" height=\"{h}mm\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">\n<title>{}</title>\n<rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\n<g transform=\"scale({})\">\n",
        escape(&format!("{HEADING} · {}", poster.station)),
        escape(&format!("{HEADING} · {}", poster.station)),
        size.scale()
    );
    out.push_str(&text(28.0, 13.0, "700", HEADING));
    out.push_str(&text(46.0, 10.0, "700", &poster.station));
    out.push_str(&text(58.0, 6.5, "400", CALL));
    out.push_str(&format!(
        "<rect x=\"{qr_x}\" y=\"{qr_y}\" width=\"{qr_mm}\" height=\"{qr_mm}\" fill=\"#fff\"/>\n<path d=\"{path}\" fill=\"#000\"/>\n"
    ));
    out.push_str(&format!(
        "<text x=\"105\" y=\"222\" font-size=\"4.2\" text-anchor=\"middle\" font-family=\"DejaVu Sans Mono, monospace\" fill=\"#333\">{}</text>\n",
        escape(&poster.url)
    ));
    out.push_str(&text(
        242.0,
        8.0,
        "700",
        &format!("{} {}", poster.hotline_name, poster.hotline_number),
    ));
    out.push_str(&text(262.0, 5.0, "400", PRIVACY_LINE));
    out.push_str("</g>\n</svg>\n");
    Ok(out)
}

/// A greyscale canvas.
struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize) {
        for row in y..(y + h).min(self.h) {
            for col in x..(x + w).min(self.w) {
                self.px[row * self.w + col] = 0;
            }
        }
    }

    /// ASCII text centred at `y`, each 8x8 glyph drawn `scale` times larger.
    fn text(&mut self, line: &str, y: usize, scale: usize) {
        let glyphs: Vec<[u8; 8]> = line
            .chars()
            .map(|c| {
                let i = if c.is_ascii() {
                    c as usize
                } else {
                    b'?' as usize
                };
                font8x8::legacy::BASIC_LEGACY[i]
            })
            .collect();
        let width = glyphs.len() * 8 * scale;
        let x0 = self.w.saturating_sub(width) / 2;
        for (n, glyph) in glyphs.iter().enumerate() {
            for (row, bits) in glyph.iter().enumerate() {
                for bit in 0..8 {
                    if bits & (1 << bit) != 0 {
                        self.fill(x0 + (n * 8 + bit) * scale, y + row * scale, scale, scale);
                    }
                }
            }
        }
    }
}

/// The poster as a PNG at 150 dpi: the QR code, the link beneath it and the hotline's number
/// (ASCII only).
pub fn png(poster: &Poster, size: Size) -> Result<Vec<u8>, PosterError> {
    let (dark, width) = modules(&poster.url)?;
    let (w_mm, h_mm) = size.mm();
    let dots = |mm: u32| (f64::from(mm) * 150.0 / 25.4).round() as usize;
    let (w, h) = (dots(w_mm), dots(h_mm));
    let mut canvas = Canvas {
        w,
        h,
        px: vec![255; w * h],
    };
    let quiet = 4;
    // Whole pixels per module, the code about 70% of the page's width.
    let module = ((w * 7 / 10) / (width + 2 * quiet)).max(1);
    let side = module * (width + 2 * quiet);
    let x0 = (w - side.min(w)) / 2;
    let y0 = h / 8;
    for y in 0..width {
        for x in 0..width {
            if dark[y * width + x] {
                canvas.fill(
                    x0 + (x + quiet) * module,
                    y0 + (y + quiet) * module,
                    module,
                    module,
                );
            }
        }
    }
    // The link, wrapped to the page's width, as large as fits.
    let margin = w / 12;
    let usable = w - 2 * margin;
    let scale = (usable / (8 * poster.url.chars().count().max(1))).clamp(1, 3);
    let per_line = (usable / (8 * scale)).max(1);
    let chars: Vec<char> = poster.url.chars().collect();
    let mut y = y0 + side + module * 2;
    for line in chars.chunks(per_line) {
        canvas.text(&line.iter().collect::<String>(), y, scale);
        y += 10 * scale;
    }
    // The hotline's number (digits are ASCII), large.
    if !poster.hotline_number.is_empty() {
        let big = (usable / (8 * poster.hotline_number.chars().count().max(6))).clamp(1, 8);
        canvas.text(&poster.hotline_number, y + 16 * scale, big);
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w as u32, h as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        // 150 dpi = 5906 dots per metre, so the page prints at its size.
        encoder.set_pixel_dims(Some(png::PixelDimensions {
            xppu: 5906,
            yppu: 5906,
            unit: png::Unit::Meter,
        }));
        let mut writer = encoder
            .write_header()
            .expect("writing a PNG header to memory cannot fail");
        writer
            .write_image_data(&canvas.px)
            .expect("writing PNG data to memory cannot fail");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poster() -> Poster {
        Poster {
            url: station_url("https://care.union.cn/", "station-1"),
            station: "望京站 <1号> & \"东\"".into(),
            hotline_name: "全国心理援助热线".into(),
            hotline_number: "12356".into(),
        }
    }

    #[test]
    fn the_link_is_the_rider_wellbeing_form_of_the_station() {
        assert_eq!(
            station_url("https://care.union.cn/", "station-1"),
            "https://care.union.cn/s/rider_wellbeing?site=station-1"
        );
    }

    #[test]
    fn the_svg_has_every_line_escaped_and_its_paper_size() {
        let s = svg(&poster(), Size::A4).unwrap();
        assert!(s.contains("width=\"210mm\" height=\"297mm\""), "{s}");
        assert!(s.contains("望京站 &lt;1号&gt; &amp; &quot;东&quot;"));
        assert!(!s.contains("<1号>"));
        assert!(s.contains("全国心理援助热线 12356"));
        assert!(s.contains(PRIVACY_LINE));
        assert!(s.contains("https://care.union.cn/s/rider_wellbeing?site=station-1"));
        assert!(!s.contains("style="));
        let a6 = svg(&poster(), Size::A6).unwrap();
        assert!(a6.contains("width=\"105mm\" height=\"148mm\"") && a6.contains("scale(0.5)"));
    }

    #[test]
    fn the_png_is_the_page_at_150_dpi() {
        let bytes = png(&poster(), Size::A6).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (620, 874));
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(Size::parse("a4"), Some(Size::A4));
        assert_eq!(Size::parse("a6"), Some(Size::A6));
        assert_eq!(Size::parse("a5"), None);
    }
}
