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
    function send() { if (!sent) { sent = true; form.submit(); } }
    setTimeout(send, 3000);
    again.then(send, send);
  });
})();
