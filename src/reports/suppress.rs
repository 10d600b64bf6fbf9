//! Small-cell suppression of one count table with its totals (pure).
//!
//! The rule (README, "Programme reports"): a count under `min_cell` is shown as `<min_cell`
//! (a *small* cell); further cells are *withheld* (shown as `—`) until, for every small cell,
//! every value from 0 to `min_cell - 1` is consistent with everything the table publishes:
//! the shown cells, the shown totals, that each small cell is under `min_cell` and that each
//! withheld cell is at least `min_cell`. An attacker who solves the table's equations learns
//! of a small cell exactly what "<10" says, and nothing more.
//!
//! The check is exact: a table with its row and column totals is a circulation (source ->
//! row -> column -> sink -> source, one edge per cell, the bounds above on each edge), whose
//! constraint matrix is totally unimodular, so a small cell can take every integer between
//! two feasible values, and testing 0 and `min_cell - 1` by a max-flow covers all of them.

use serde::Serialize;

/// One published figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Figure {
    /// The exact count.
    Count(u64),
    /// Under `min_cell`: shown as "<10".
    Small,
    /// Withheld so that a small cell cannot be computed back: shown as "—".
    Withheld,
}

impl Figure {
    pub fn count(self) -> Option<u64> {
        match self {
            Figure::Count(n) => Some(n),
            _ => None,
        }
    }

    /// How a page or a CSV file shows it.
    pub fn display(self, min_cell: u64) -> String {
        match self {
            Figure::Count(n) => n.to_string(),
            Figure::Small => format!("<{min_cell}"),
            Figure::Withheld => "—".into(),
        }
    }
}

/// A table of counts as published: cells by row and column, the row totals, the column
/// totals and the grand total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Protected {
    pub cells: Vec<Vec<Figure>>,
    pub row_totals: Vec<Figure>,
    pub column_totals: Vec<Figure>,
    pub total: Figure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Shown,
    Small,
    Withheld,
}

/// The table with its totals as one (rows+1) x (columns+1) grid: the last row holds the
/// column totals, the last column the row totals.
struct Grid {
    rows: usize,
    cols: usize,
    value: Vec<Vec<u64>>,
    state: Vec<Vec<State>>,
}

impl Grid {
    fn new(counts: &[Vec<u64>], columns: usize, min_cell: u64) -> Grid {
        let rows = counts.len();
        let mut value = vec![vec![0u64; columns + 1]; rows + 1];
        for (i, row) in counts.iter().enumerate() {
            for j in 0..columns {
                let v = row.get(j).copied().unwrap_or(0);
                value[i][j] = v;
                value[i][columns] += v;
                value[rows][j] += v;
                value[rows][columns] += v;
            }
        }
        let state = value
            .iter()
            .map(|r| {
                r.iter()
                    .map(|&v| {
                        if v < min_cell {
                            State::Small
                        } else {
                            State::Shown
                        }
                    })
                    .collect()
            })
            .collect();
        Grid {
            rows,
            cols: columns,
            value,
            state,
        }
    }

    /// Whether small cell (i, j) can be `target` given what is published.
    fn feasible(&self, i: usize, j: usize, target: u64, min_cell: u64) -> bool {
        // Nodes: 0 source, 1..=rows rows, then columns, then the sink.
        let (r, c) = (self.rows, self.cols);
        let n = r + c + 2;
        let sink = n - 1;
        let mut edges: Vec<(usize, usize, i64, i64)> = Vec::new();
        for a in 0..=r {
            for b in 0..=c {
                let (from, to) = match (a == r, b == c) {
                    (false, false) => (1 + a, 1 + r + b),
                    (false, true) => (0, 1 + a),
                    (true, false) => (1 + r + b, sink),
                    (true, true) => (sink, 0),
                };
                let (lo, hi) = if (a, b) == (i, j) {
                    (target as i64, target as i64)
                } else {
                    match self.state[a][b] {
                        State::Shown => (self.value[a][b] as i64, self.value[a][b] as i64),
                        State::Small => (0, min_cell as i64 - 1),
                        State::Withheld => (min_cell as i64, UNBOUNDED),
                    }
                };
                edges.push((from, to, lo, hi));
            }
        }
        circulation_exists(n, &edges)
    }

    fn protected(&self, i: usize, j: usize, min_cell: u64) -> bool {
        self.feasible(i, j, 0, min_cell) && self.feasible(i, j, min_cell - 1, min_cell)
    }

    fn first_unprotected(&self, min_cell: u64) -> Option<(usize, usize)> {
        (0..=self.rows)
            .flat_map(|a| (0..=self.cols).map(move |b| (a, b)))
            .find(|&(a, b)| self.state[a][b] == State::Small && !self.protected(a, b, min_cell))
    }

    /// The shown cell to withhold next for (i, j): one in its row or column, an inner cell
    /// before a total, the largest first (it gives the small cell the most room); else any.
    fn partner(&self, i: usize, j: usize, keep_total: bool) -> Option<(usize, usize)> {
        let candidates = (0..=self.rows)
            .flat_map(|a| (0..=self.cols).map(move |b| (a, b)))
            .filter(|&(a, b)| self.state[a][b] == State::Shown)
            .filter(|&(a, b)| !(keep_total && a == self.rows && b == self.cols));
        candidates.max_by_key(|&(a, b)| {
            let same_line = a == i || b == j;
            let inner = a < self.rows && b < self.cols;
            (
                same_line,
                inner,
                self.value[a][b],
                std::cmp::Reverse((a, b)),
            )
        })
    }
}

const UNBOUNDED: i64 = 1 << 40;

/// Whether a circulation exists with `lo <= flow <= hi` on every edge (from, to, lo, hi):
/// the textbook reduction to one max-flow from a super source to a super sink.
fn circulation_exists(n: usize, edges: &[(usize, usize, i64, i64)]) -> bool {
    let (s, t) = (n, n + 1);
    let size = n + 2;
    let mut cap = vec![vec![0i64; size]; size];
    let mut excess = vec![0i64; n];
    for &(u, v, lo, hi) in edges {
        if lo > hi {
            return false;
        }
        cap[u][v] += hi - lo;
        excess[v] += lo;
        excess[u] -= lo;
    }
    let mut need = 0;
    for (v, &e) in excess.iter().enumerate() {
        if e > 0 {
            cap[s][v] += e;
            need += e;
        } else if e < 0 {
            cap[v][t] += -e;
        }
    }
    max_flow(&mut cap, s, t) == need
}

/// Edmonds-Karp on a capacity matrix (tables have a few dozen nodes at most).
fn max_flow(cap: &mut [Vec<i64>], s: usize, t: usize) -> i64 {
    let size = cap.len();
    let mut flow = 0;
    loop {
        let mut parent = vec![usize::MAX; size];
        parent[s] = s;
        let mut queue = std::collections::VecDeque::from([s]);
        while let Some(u) = queue.pop_front() {
            for v in 0..size {
                if parent[v] == usize::MAX && cap[u][v] > 0 {
                    parent[v] = u;
                    queue.push_back(v);
                }
            }
        }
        if parent[t] == usize::MAX {
            return flow;
        }
        let mut bottleneck = i64::MAX;
        let mut v = t;
        while v != s {
            let u = parent[v];
            bottleneck = bottleneck.min(cap[u][v]);
            v = u;
        }
        let mut v = t;
        while v != s {
            let u = parent[v];
            cap[u][v] -= bottleneck;
            cap[v][u] += bottleneck;
            v = u;
        }
        flow += bottleneck;
    }
}

/// Protects a table of `counts` (rows of `columns` cells). With `keep_total` the grand total
/// is never withheld (it is shared with other tables of the same period, so it must be the
/// same published number in all of them; a grand total under `min_cell` is small anyway).
/// `None` when no pattern protects every small cell (a total too close to `min_cell` leaves
/// no room): then the table is not published at all, only its total.
pub fn protect(
    counts: &[Vec<u64>],
    columns: usize,
    min_cell: u64,
    keep_total: bool,
) -> Option<Protected> {
    let min_cell = min_cell.max(2);
    let mut grid = Grid::new(counts, columns, min_cell);
    while let Some((i, j)) = grid.first_unprotected(min_cell) {
        let (a, b) = grid.partner(i, j, keep_total)?;
        grid.state[a][b] = State::Withheld;
    }
    let figure = |a: usize, b: usize| match grid.state[a][b] {
        State::Shown => Figure::Count(grid.value[a][b]),
        State::Small => Figure::Small,
        State::Withheld => Figure::Withheld,
    };
    let (r, c) = (grid.rows, grid.cols);
    Some(Protected {
        cells: (0..r)
            .map(|a| (0..c).map(|b| figure(a, b)).collect())
            .collect(),
        row_totals: (0..r).map(|a| figure(a, c)).collect(),
        column_totals: (0..c).map(|b| figure(r, b)).collect(),
        total: figure(r, c),
    })
}

/// Sites with fewer than `min_cell` screenings in a period are folded into one "other
/// sites" row; if that row is itself under `min_cell` (and not empty), the smallest named
/// site joins it until it is not, so no named site can be had by subtracting. Returns the
/// named rows kept (in their order) and the folded row with the names folded into it.
pub fn fold_small<K: Clone>(rows: &[(K, Vec<u64>)], columns: usize, min_cell: u64) -> Folded<K> {
    let total = |r: &[u64]| r.iter().sum::<u64>();
    let (mut kept, small): (Vec<_>, Vec<_>) = rows
        .iter()
        .cloned()
        .partition(|(_, r)| total(r) >= min_cell);
    if small.is_empty() {
        return (kept, None);
    }
    let mut names = Vec::new();
    let mut other = vec![0u64; columns];
    let add = |k: K, r: &[u64], names: &mut Vec<K>, other: &mut Vec<u64>| {
        names.push(k);
        for (o, v) in other.iter_mut().zip(r) {
            *o += v;
        }
    };
    for (k, r) in small {
        add(k, &r, &mut names, &mut other);
    }
    while total(&other) > 0 && total(&other) < min_cell && !kept.is_empty() {
        let smallest = (0..kept.len())
            .min_by_key(|&i| total(&kept[i].1))
            .unwrap_or(0);
        let (k, r) = kept.remove(smallest);
        add(k, &r, &mut names, &mut other);
    }
    (kept, Some((names, other)))
}

/// The `q`-quantile (0..=1, nearest rank) of `values`, only over at least `min_cell` values.
pub fn quantile(values: &[f64], q: f64, min_cell: u64) -> Option<f64> {
    if (values.len() as u64) < min_cell.max(2) || values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// The kept named rows, and the folded row with the names folded into it.
pub type Folded<K> = (Vec<(K, Vec<u64>)>, Option<(Vec<K>, Vec<u64>)>);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The attacker: every table of non-negative counts (grand total up to `cap`) that shows
    /// exactly what `published` shows. Returns, per small cell, the values it can have.
    fn attacker(
        published: &Protected,
        rows: usize,
        cols: usize,
        min_cell: u64,
        cap: u64,
    ) -> Vec<Vec<std::collections::BTreeSet<u64>>> {
        let mut seen = vec![vec![std::collections::BTreeSet::new(); cols]; rows];
        let mut cells = vec![0u64; rows * cols];
        fn shows(f: Figure, v: u64, m: u64) -> bool {
            match f {
                Figure::Count(n) => n == v,
                Figure::Small => v < m,
                Figure::Withheld => v >= m,
            }
        }
        fn walk(
            k: usize,
            left: u64,
            cells: &mut Vec<u64>,
            p: &Protected,
            dims: (usize, usize, u64),
            seen: &mut Vec<Vec<std::collections::BTreeSet<u64>>>,
        ) {
            let (rows, cols, m) = dims;
            if k == cells.len() {
                let t: Vec<Vec<u64>> = cells.chunks(cols).map(|c| c.to_vec()).collect();
                let ok = (0..rows).all(|i| {
                    (0..cols).all(|j| shows(p.cells[i][j], t[i][j], m))
                        && shows(p.row_totals[i], t[i].iter().sum(), m)
                }) && (0..cols)
                    .all(|j| shows(p.column_totals[j], t.iter().map(|r| r[j]).sum(), m))
                    && shows(p.total, t.iter().flatten().sum(), m);
                if ok {
                    for i in 0..rows {
                        for j in 0..cols {
                            seen[i][j].insert(t[i][j]);
                        }
                    }
                }
                return;
            }
            for v in 0..=left {
                cells[k] = v;
                walk(k + 1, left - v, cells, p, dims, seen);
            }
            cells[k] = 0;
        }
        walk(
            0,
            cap,
            &mut cells,
            published,
            (rows, cols, min_cell),
            &mut seen,
        );
        seen
    }

    #[test]
    fn one_red_at_a_small_station_among_thirty_elsewhere_is_not_recoverable() {
        // Rows: two big stations and one small one; columns green, yellow, red.
        let counts = vec![vec![20, 10, 0], vec![25, 12, 0], vec![10, 1, 1]];
        let p = protect(&counts, 3, 10, true).unwrap();
        assert_eq!(p.cells[2][2], Figure::Small);
        assert_eq!(p.total, Figure::Count(79));
        // Subtracting what is shown never yields the red count.
        let known: u64 = (0..3).filter_map(|i| p.cells[i][2].count()).sum();
        assert!(p.column_totals[2].count().is_none() || known == 0);
        for i in 0..3 {
            let shown: Vec<u64> = p.cells[i].iter().filter_map(|f| f.count()).collect();
            if let Some(total) = p.row_totals[i].count() {
                assert!(
                    p.cells[i].iter().filter(|f| f.count().is_none()).count() != 1,
                    "row {i}: one hidden cell is the total minus {shown:?}"
                );
                let _ = total;
            }
        }
    }

    #[test]
    fn a_table_without_small_cells_is_shown_whole() {
        let p = protect(&[vec![10, 11], vec![12, 13]], 2, 10, true).unwrap();
        assert!(p.cells.iter().flatten().all(|f| f.count().is_some()));
        assert_eq!(p.total, Figure::Count(46));
    }

    #[test]
    fn percentiles_need_min_cell_values() {
        let nine: Vec<f64> = (1..=9).map(f64::from).collect();
        assert_eq!(quantile(&nine, 0.5, 10), None);
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&ten, 0.5, 10), Some(5.0));
        assert_eq!(quantile(&ten, 0.9, 10), Some(9.0));
    }

    #[test]
    fn small_sites_fold_into_other_sites_until_it_is_not_small() {
        let rows = vec![("a", vec![30, 0]), ("b", vec![12, 0]), ("c", vec![2, 1])];
        let (kept, other) = fold_small(&rows, 2, 10);
        assert_eq!(kept.iter().map(|r| r.0).collect::<Vec<_>>(), ["a"]);
        let (names, counts) = other.unwrap();
        assert_eq!(names, ["c", "b"]);
        assert_eq!(counts, [14, 1]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// The property, tested as an attacker would: over every table consistent with what
        /// is published, each small cell takes every value from 0 to min_cell - 1.
        #[test]
        fn no_small_cell_is_narrowed_by_the_published_table(
            (rows, cols, cells) in (1usize..=2, 1usize..=3).prop_flat_map(|(r, c)| {
                (Just(r), Just(c), proptest::collection::vec(0u64..6, r * c))
            }),
            keep_total in any::<bool>(),
        ) {
            let m = 3;
            let counts: Vec<Vec<u64>> = cells.chunks(cols).map(|c| c.to_vec()).collect();
            let Some(p) = protect(&counts, cols, m, keep_total) else {
                // Not published: nothing to attack.
                return Ok(());
            };
            let truth: u64 = cells.iter().sum();
            prop_assume!(truth <= 10);
            // Room for withheld cells to be larger than they are.
            let cap = truth + 5;
            let seen = attacker(&p, rows, cols, m, cap);
            for i in 0..rows {
                for j in 0..cols {
                    prop_assert!(seen[i][j].contains(&counts[i][j]));
                    if p.cells[i][j] == Figure::Small {
                        for v in 0..m {
                            prop_assert!(seen[i][j].contains(&v),
                                "cell ({i},{j}) of {counts:?} cannot be {v}: {p:?}");
                        }
                    }
                }
            }
        }

        /// And every count under min_cell is shown as small, never as a number.
        #[test]
        fn every_count_under_min_cell_is_small(
            cells in proptest::collection::vec(0u64..40, 6),
            m in 2u64..15,
        ) {
            let counts: Vec<Vec<u64>> = cells.chunks(3).map(|c| c.to_vec()).collect();
            let Some(p) = protect(&counts, 3, m, true) else {
                return Ok(());
            };
            for (i, row) in counts.iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    if v < m {
                        prop_assert_eq!(p.cells[i][j], Figure::Small);
                    } else {
                        prop_assert_ne!(p.cells[i][j], Figure::Small);
                    }
                }
            }
        }
    }
}
