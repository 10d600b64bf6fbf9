/* Careline rider form: hides questions that do not apply and counts progress. The page works
   without this script; the server checks every answer again and is the source of truth.
   show_if conditions are CEL; this evaluates the simple part of it the shipped files use:
   item names, whole numbers, true/false/null, == != < <= > >=, !, unary -, && || and ( ).
   A condition this cannot parse shows the question: asking too much is safe, skipping a
   question is not.
   While the rider fills the form, a question not answered yet is undecided, not a refusal: a
   follow-up appears only once an earlier answer calls for it (a "yes"), never at load. When
   the form came back because sensitive questions were left unanswered (data-decided on the
   form), unanswered is what the server takes it for, null (a refusal), and a follow-up that
   the server would ask is shown. The server decides in the end. */
(function () {
  'use strict';
  var doc = document;
  doc.documentElement.className += ' js';

  var summary = doc.getElementById('error-summary') || doc.getElementById('soft-prompt');
  if (summary) { summary.focus(); }

  var form = doc.querySelector('form.screening');
  if (!form) { return; }

  function tokenize(src) {
    var re = /\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|<=|>=|&&|\|\||[<>!()-]))/y;
    var out = [], m;
    re.lastIndex = 0;
    while (re.lastIndex < src.length) {
      if (/^\s*$/.test(src.slice(re.lastIndex))) { break; }
      m = re.exec(src);
      if (!m) { throw new Error('syntax'); }
      if (m[1] !== undefined) { out.push({ k: 'num', v: parseInt(m[1], 10) }); }
      else if (m[2] !== undefined) { out.push({ k: 'id', v: m[2] }); }
      else { out.push({ k: 'op', v: m[3] }); }
    }
    return out;
  }

  // Recursive descent into a tree of nodes [op, a, b] / ['lit', v] / ['var', name].
  function parse(src) {
    var toks = tokenize(src), i = 0;
    function peek(v) { return toks[i] && toks[i].k === 'op' && toks[i].v === v; }
    function or() {
      var a = and();
      while (peek('||')) { i++; a = ['||', a, and()]; }
      return a;
    }
    function and() {
      var a = cmp();
      while (peek('&&')) { i++; a = ['&&', a, cmp()]; }
      return a;
    }
    function cmp() {
      var a = unary();
      var ops = ['==', '!=', '<', '<=', '>', '>='];
      while (toks[i] && toks[i].k === 'op' && ops.indexOf(toks[i].v) >= 0) {
        var op = toks[i++].v;
        a = [op, a, unary()];
      }
      return a;
    }
    function unary() {
      if (peek('!')) { i++; return ['!', unary()]; }
      if (peek('-')) { i++; return ['neg', unary()]; }
      return primary();
    }
    function primary() {
      var t = toks[i++];
      if (!t) { throw new Error('syntax'); }
      if (t.k === 'num') { return ['lit', t.v]; }
      if (t.k === 'id') {
        if (t.v === 'true') { return ['lit', true]; }
        if (t.v === 'false') { return ['lit', false]; }
        if (t.v === 'null') { return ['lit', null]; }
        return ['var', t.v];
      }
      if (t.v === '(') {
        var e = or();
        if (!peek(')')) { throw new Error('syntax'); }
        i++;
        return e;
      }
      throw new Error('syntax');
    }
    var tree = or();
    if (i !== toks.length) { throw new Error('syntax'); }
    return tree;
  }

  function isNum(v) { return typeof v === 'number'; }

  // CEL semantics: == and != work on anything (null != 0 is true); ordering needs numbers;
  // && and || absorb an error when the other side decides the result.
  var UNDECIDED = {};
  function evaluate(n, vals) {
    var a, b;
    switch (n[0]) {
      case 'lit': return n[1];
      case 'var':
        if (!(n[1] in vals)) { throw new Error('unknown'); }
        if (vals[n[1]] === UNDECIDED) { throw new Error('undecided'); }
        return vals[n[1]];
      case 'neg':
        a = evaluate(n[1], vals);
        if (!isNum(a)) { throw new Error('type'); }
        return -a;
      case '!':
        a = evaluate(n[1], vals);
        if (typeof a !== 'boolean') { throw new Error('type'); }
        return !a;
      case '||': case '&&':
        var wanted = n[0] === '||', err = null, k, r;
        for (k = 1; k <= 2; k++) {
          try {
            r = evaluate(n[k], vals);
            if (typeof r !== 'boolean') { throw new Error('type'); }
            if (r === wanted) { return wanted; }
          } catch (e) { if (!err || e.message === 'undecided') { err = e; } }
        }
        if (err) { throw err; }
        return !wanted;
      case '==': return evaluate(n[1], vals) === evaluate(n[2], vals);
      case '!=': return evaluate(n[1], vals) !== evaluate(n[2], vals);
      default:
        a = evaluate(n[1], vals);
        b = evaluate(n[2], vals);
        if (!isNum(a) || !isNum(b)) { throw new Error('type'); }
        if (n[0] === '<') { return a < b; }
        if (n[0] === '<=') { return a <= b; }
        if (n[0] === '>') { return a > b; }
        return a >= b;
    }
  }

  var items = Array.prototype.slice.call(form.querySelectorAll('fieldset.item'));
  var trees = items.map(function (fs) {
    var src = fs.getAttribute('data-show-if');
    if (!src) { return null; }
    try { return parse(src); } catch (e) { return 'show'; }
  });
  var text = doc.getElementById('progress-text');
  var bar = doc.getElementById('progress-bar');
  var decided = form.hasAttribute('data-decided');

  // Shown when the condition holds; an undecided answer in it waits (hidden) unless the
  // other side of an || already decides; any other error shows the question.
  function shown(tree, vals) {
    try { return evaluate(tree, vals) !== false; } catch (e) { return e.message !== 'undecided'; }
  }

  function update() {
    var vals = {}, asked = 0, answered = 0;
    items.forEach(function (fs, idx) {
      var tree = trees[idx], show = true;
      if (tree && tree !== 'show') { show = shown(tree, vals); }
      fs.hidden = !show;
      var inputs = fs.querySelectorAll('input');
      for (var j = 0; j < inputs.length; j++) { inputs[j].disabled = !show; }
      var checked = show ? fs.querySelector('input:checked') : null;
      // Not asked: null, as on the server. Asked, not answered: undecided while filling.
      vals[fs.getAttribute('data-item')] = checked ? parseInt(checked.value, 10)
        : (show && !decided ? UNDECIDED : null);
      if (show) {
        asked++;
        if (checked) { answered++; }
      }
    });
    if (text) { text.textContent = answered + ' / ' + asked; }
    if (bar) { bar.max = asked; bar.value = answered; }
  }

  form.addEventListener('change', update);
  update();

  // One tap sends the form once; the key in the form makes a second send harmless anyway.
  var button = form.querySelector('button[type="submit"]');
  form.addEventListener('submit', function () {
    if (button) { setTimeout(function () { button.disabled = true; }, 0); }
  });
  window.addEventListener('pageshow', function () {
    if (button) { button.disabled = false; }
    update();
  });
})();

// Proof of work (the flood guard, README "Floods of fake screenings"): while the rider answers,
// fetch and solve a challenge unseen, so the form is accepted even while this network or
// station sends far more than riders do. Nothing of the rider's is sent; without JavaScript
// the server shows the result with the crisis lines instead.
(function () {
  'use strict';
  var form = document.querySelector('form.screening');
  if (!form || !window.fetch || !window.TextEncoder || !window.crypto || !crypto.subtle) { return; }
  var field = document.createElement('input');
  field.type = 'hidden';
  field.name = 'altcha';
  form.appendChild(field);
  var solvedAt = 0;
  var fresh = 20 * 60 * 1000; // well inside abuse.challenge_ttl (30 minutes by default)

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ('0' + b.toString(16)).slice(-2);
    }).join('');
  }

  // Finds n <= maxnumber with hex(SHA-256(salt + n)) = challenge, 256 hashes at a time.
  function solve(c) {
    var encoder = new TextEncoder();
    var n = 0;
    function batch() {
      var start = n;
      var hashes = [];
      for (; hashes.length < 256 && n <= c.maxnumber; n++) {
        hashes.push(crypto.subtle.digest('SHA-256', encoder.encode(c.salt + n)));
      }
      return Promise.all(hashes).then(function (done) {
        for (var i = 0; i < done.length; i++) {
          if (hex(done[i]) === c.challenge) { return start + i; }
        }
        return n > c.maxnumber ? -1 : batch();
      });
    }
    return batch();
  }

  function fetchAndSolve() {
    return fetch('/api/v1/challenge', { credentials: 'omit', cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) {
        if (!c) { return; }
        return solve(c).then(function (number) {
          if (number < 0) { return; }
          field.value = btoa(JSON.stringify({
            algorithm: c.algorithm, challenge: c.challenge, number: number,
            salt: c.salt, signature: c.signature
          }));
          solvedAt = Date.now();
          form.setAttribute('data-pow', 'solved');
        });
      })
      .catch(function () { /* the form still goes; the server decides */ });
  }

  var solving = fetchAndSolve();
  form.addEventListener('submit', function (event) {
    if (solvedAt && Date.now() - solvedAt < fresh) { return; }
    // Left open long (an order came in) or still solving: a fresh one first, then send.
    event.preventDefault();
    var again = solvedAt ? fetchAndSolve() : solving;
    solvedAt = 0;
    // Never hold a rider's answers for long: after 3 s the form goes as it is.
    var sent = false;
    // The interruption-proof sender below when it is there (fetch, retries), else a plain send.
    function send() {
      if (sent) { return; }
      sent = true;
      if (window.carelineSend) { window.carelineSend(); } else { form.submit(); }
    }
    setTimeout(send, 3000);
    again.then(send, send);
  });
})();

// Interruptions (issue 10). Riders are interrupted by orders, lose the network in lifts and
// reload by accident. While the rider fills the form the answers are kept on this phone
// (sessionStorage, keyed by questionnaire and version, never sent anywhere but with the form)
// and put back after a reload or a rescan of the same QR code; they are cleared once a send is
// stored. The form is sent by fetch: when the network drops, the answers and the idempotency
// key stay, the crisis lines show at once, and the send is tried again every few seconds and
// when the phone is back online (the server stores a key once). A long form can be shown one
// part per screen. Each question can be read aloud by the browser's own voice. Without
// JavaScript none of this runs: one page, one POST.
(function () {
  'use strict';
  var doc = document;
  var form = doc.querySelector('form.screening');
  if (!form) { return; }
  var t = function (name) { return form.getAttribute('data-t-' + name) || ''; };
  var keyField = form.querySelector('input[name="idempotency-key"]');
  var tokenField = form.querySelector('input[name="csrf-token"]');
  var radios = Array.prototype.slice.call(form.querySelectorAll('input[type="radio"]'));
  function changed() { form.dispatchEvent(new Event('change')); }

  // ---- answers kept on the phone ----
  var store = null;
  try { store = window.sessionStorage; store.getItem('careline'); } catch (e) { store = null; }
  var storeKey = 'careline:' + form.getAttribute('data-store');
  function load() {
    if (!store) { return null; }
    try { return JSON.parse(store.getItem(storeKey) || 'null'); } catch (e) { return null; }
  }
  function save(pending) {
    if (!store) { return; }
    var saved = { answers: {} };
    radios.forEach(function (r) { if (r.checked) { saved.answers[r.name] = r.value; } });
    if (pending) { saved.key = keyField.value; saved.token = tokenField.value; }
    try { store.setItem(storeKey, JSON.stringify(saved)); } catch (e) { /* full: not kept */ }
  }
  function clear() { if (store) { try { store.removeItem(storeKey); } catch (e) { /* */ } } }
  function notice(text) {
    var p = doc.createElement('p');
    p.className = 'notice restored';
    p.setAttribute('role', 'status');
    p.textContent = text;
    form.parentNode.insertBefore(p, form);
  }

  var saved = load();
  // Only onto a fresh form: a form the server sent back already holds what was sent.
  var fresh = !radios.some(function (r) { return r.checked; });
  if (saved && fresh) {
    var restored = 0;
    radios.forEach(function (r) {
      if (saved.answers && saved.answers[r.name] === r.value) { r.checked = true; restored++; }
    });
    // A send that may have reached the server before the page was lost: the same key (and
    // its token) again, so that the server answers it from the first instead of storing two.
    if (saved.key && saved.token) { keyField.value = saved.key; tokenField.value = saved.token; }
    if (restored) { notice(t('restored')); changed(); }
  }
  form.addEventListener('change', function () {
    var pending = load();
    save(pending && pending.key === keyField.value);
  });

  // ---- one part per screen (opt-in) ----
  var sections = Array.prototype.slice.call(form.querySelectorAll('section.section'));
  var submit = form.querySelector('button[type="submit"]');
  if (sections.length > 1) {
    var paged = false;
    try { paged = !!store && store.getItem('careline:paged') === '1'; } catch (e) { paged = false; }
    var current = 0;
    var toggle = doc.createElement('button');
    toggle.type = 'button';
    toggle.className = 'paged-toggle';
    var nav = doc.createElement('div');
    nav.className = 'paged-nav';
    var back = doc.createElement('button');
    back.type = 'button';
    back.className = 'paged-back';
    back.textContent = t('back');
    var step = doc.createElement('span');
    step.className = 'paged-step';
    var next = doc.createElement('button');
    next.type = 'button';
    next.className = 'paged-next primary';
    next.textContent = t('next');
    nav.appendChild(back);
    nav.appendChild(step);
    nav.appendChild(next);
    sections[0].parentNode.insertBefore(toggle, sections[0]);
    var last = sections[sections.length - 1];
    last.parentNode.insertBefore(nav, last.nextSibling);

    var visible = function () {
      return sections.filter(function (s) { return s.querySelector('fieldset.item:not([hidden])'); });
    };
    var render = function () {
      var vis = visible();
      if (current > vis.length - 1) { current = Math.max(vis.length - 1, 0); }
      sections.forEach(function (s) { s.hidden = paged && s !== vis[current]; });
      nav.hidden = !paged;
      back.hidden = current === 0;
      next.hidden = current >= vis.length - 1;
      step.textContent = (current + 1) + ' / ' + vis.length;
      if (submit) { submit.hidden = paged && current < vis.length - 1; }
      toggle.textContent = paged ? t('all') : t('paged');
      toggle.setAttribute('aria-pressed', paged ? 'true' : 'false');
    };
    var go = function (delta) {
      current += delta;
      render();
      var shown = visible()[current];
      if (shown) {
        shown.setAttribute('tabindex', '-1');
        shown.focus();
        shown.scrollIntoView();
      }
    };
    toggle.addEventListener('click', function () {
      paged = !paged;
      try { if (store) { store.setItem('careline:paged', paged ? '1' : '0'); } } catch (e) { /* */ }
      current = 0;
      render();
    });
    back.addEventListener('click', function () { go(-1); });
    next.addEventListener('click', function () { go(1); });
    form.addEventListener('change', render);
    // A link to a question (the error summary, the soft prompt) opens its part.
    doc.addEventListener('click', function (event) {
      var a = event.target.closest && event.target.closest('a[href^="#item-"]');
      if (!a || !paged) { return; }
      var target = doc.getElementById(a.getAttribute('href').slice(1));
      var at = visible().indexOf(target && target.closest('section.section'));
      if (at >= 0) { current = at; render(); }
    });
    render();
  }

  // ---- sending by fetch, and the network dropping ----
  if (window.fetch && window.FormData && window.URLSearchParams) {
    var panel = doc.getElementById('offline-panel');
    var status = doc.getElementById('offline-status');
    var sending = false;
    var retry = null;
    var stop = function () { if (retry) { clearInterval(retry); retry = null; } };
    var offline = function () {
      if (panel && panel.hidden) {
        panel.hidden = false;
        panel.focus();
        panel.scrollIntoView();
      }
      if (status) { status.textContent = t('retrying'); }
      if (!retry) { retry = setInterval(attempt, 5000); }
    };
    var attempt = function () {
      if (sending) { return; }
      sending = true;
      save(true);
      var body = new URLSearchParams(new FormData(form));
      fetch(form.action, { method: 'POST', body: body, credentials: 'same-origin', cache: 'no-store' })
        .then(function (r) {
          return r.text().then(function (html) { return { ok: r.ok, html: html }; });
        })
        .then(function (answer) {
          sending = false;
          stop();
          if (answer.ok && answer.html.indexOf('class="screening"') < 0) {
            clear(); // stored: nothing of the rider's stays on the phone
          } else {
            save(false); // not stored: the answers stay, the next form brings its own key
          }
          doc.open();
          doc.write(answer.html);
          doc.close();
        }, function () {
          sending = false;
          offline();
        });
    };
    window.carelineSend = attempt;
    window.addEventListener('online', function () { if (retry) { attempt(); } });
    form.addEventListener('submit', function (event) {
      // The proof of work holds the send until it is solved, then calls carelineSend.
      if (event.defaultPrevented) { return; }
      event.preventDefault();
      attempt();
    });
  }

  // ---- read aloud ----
  var synth = window.speechSynthesis;
  if (synth && window.SpeechSynthesisUtterance) {
    var lang = (doc.documentElement.lang || '').toLowerCase();
    var voice = function () {
      var voices = synth.getVoices() || [];
      var norm = function (v) { return (v.lang || '').replace('_', '-').toLowerCase(); };
      var exact = voices.filter(function (v) { return norm(v) === lang; })[0];
      if (exact) { return exact; }
      // English in any region will do; Chinese must match the script the page is written in.
      return lang === 'en'
        ? voices.filter(function (v) { return norm(v).indexOf('en') === 0; })[0] || null
        : null;
    };
    var buttons = [];
    Array.prototype.forEach.call(form.querySelectorAll('fieldset.item'), function (fs) {
      var legend = fs.querySelector('legend');
      if (!legend) { return; }
      var b = doc.createElement('button');
      b.type = 'button';
      b.className = 'read-aloud';
      b.hidden = true;
      b.textContent = t('read');
      b.addEventListener('click', function () {
        var parts = [legend.textContent.replace(/^\s*\d+\.\s*/, '')];
        Array.prototype.forEach.call(fs.querySelectorAll('label.choice span'), function (s) {
          parts.push(s.textContent);
        });
        synth.cancel();
        var u = new SpeechSynthesisUtterance(parts.join('。 '));
        u.lang = doc.documentElement.lang;
        var v = voice();
        if (v) { u.voice = v; }
        synth.speak(u);
      });
      legend.parentNode.insertBefore(b, legend.nextSibling);
      buttons.push(b);
    });
    var refresh = function () {
      var has = !!voice();
      buttons.forEach(function (b) { b.hidden = !has; });
    };
    refresh();
    if (synth.addEventListener) { synth.addEventListener('voiceschanged', refresh); }
  }
})();
