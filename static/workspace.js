/* Careline staff workspace: keeps the queue and the alert page live, and wakes people.
   The pages work without this script (reload the queue to see new alerts); the server
   renders every row, this only fetches them again.

   The queue page listens to the server-sent events of /api/v1/alerts/events (the session
   cookie goes along: same origin). Every change of an alert on any instance or worker
   arrives as a `queue` event with an `id`; the browser sends the last id back when it
   reconnects (Last-Event-ID) and the server first sends what was missed. On `queue` and on
   each (re)connection it fetches /queue/rows with the page's filters and swaps the table
   body and the page title, which leads with the count of open red alerts. A safety net, not
   the mechanism: a `ping` (every 20 s) refreshes when the rows are older than two minutes. */
(function () {
  'use strict';
  var doc = document;
  doc.documentElement.className += ' js';

  /* The one way this script fetches a page or a part of one, as the signed-in user: the
     parsed document, or a rejection when the answer is not a success. */
  function fetchPage(url) {
    return fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
      .then(function (r) {
        if (!r.ok) { throw new Error(url + ': ' + r.status); }
        return r.text();
      })
      .then(function (html) { return new DOMParser().parseFromString(html, 'text/html'); });
  }

  // Times stay as the server wrote them: China time, labelled (issue 13).

  /* The phone's header menu (a <details>, usable without this script): Escape closes it and
     gives the focus back to its button; a tap elsewhere closes it. */
  var menu = doc.querySelector('details.ws-menu');
  if (menu) {
    menu.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && menu.open) {
        menu.open = false;
        menu.querySelector('summary').focus();
      }
    });
    doc.addEventListener('click', function (e) {
      if (menu.open && !menu.contains(e.target)) { menu.open = false; }
    });
  }

  /* The questionnaire edit page (issue 14): a chosen .toml file is read into the text box
     (in the browser; nothing is sent until Preview). Without this script the text box alone
     takes a paste. */
  var upload = doc.getElementById('upload');
  var box = doc.getElementById('source');
  if (upload && box && window.FileReader) {
    doc.getElementById('upload-row').hidden = false;
    upload.addEventListener('change', function () {
      var file = upload.files && upload.files[0];
      if (!file) { return; }
      var reader = new FileReader();
      reader.onload = function () { box.value = String(reader.result); box.focus(); };
      reader.readAsText(file, 'utf-8');
    });
  }

  /* The alert page (issue 13): when someone else takes, notes or resolves this alert (an
     event of the stream names it), the status, taker, timeline and actions are fetched
     again; a note says so. Typed text in a form is never replaced. */
  var call = doc.getElementById('night-call');
  if (call && window.EventSource && window.fetch && window.DOMParser) {
    alertLive(call);
    return;
  }

  var table = doc.getElementById('queue');
  if (!table || !window.EventSource || !window.fetch || !window.DOMParser) { return; }
  var src = table.getAttribute('data-rows');
  var live = doc.getElementById('live');
  var count = doc.getElementById('open-red');
  var busy = false, again = false, fetched = 0;
  var STALE = 120000;

  function say(on) {
    if (!live) { return; }
    live.hidden = false;
    live.className = on ? 'live on' : 'live off';
    live.textContent = live.getAttribute(on ? 'data-on' : 'data-off');
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetched = Date.now();
    fetchPage(src)
      .then(function (parsed) {
        var fresh = parsed.getElementById('queue-rows');
        var old = doc.getElementById('queue-rows');
        if (!fresh || !old) { return; }
        var node = doc.importNode(fresh, true);
        old.parentNode.replaceChild(node, old);
        doc.title = node.getAttribute('data-title');
        if (count) { count.textContent = node.getAttribute('data-open-red'); }
        say(true);
        watchRed(node, true);
      })
      .catch(function () { say(false); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  /* The alarm (issue 13): a red alert that was not open in the queue before sounds a short
     tone made in the page (WebAudio: no file is fetched), raises a browser notification
     when the user allowed them (the button asks), and vibrates where the device can. The
     title keeps its count. */
  var seenRed = {};
  var audio = null;
  var alarm = doc.getElementById('alarm');
  function redRefs(root) {
    var out = [];
    var rows = root.querySelectorAll('tr.tier-red.status-open[data-ref]');
    for (var i = 0; i < rows.length; i++) { out.push(rows[i].getAttribute('data-ref')); }
    return out;
  }
  function watchRed(root, ring) {
    var refs = redRefs(root), fresh = [];
    for (var i = 0; i < refs.length; i++) {
      if (!seenRed[refs[i]]) { fresh.push(refs[i]); seenRed[refs[i]] = true; }
    }
    if (ring && fresh.length) { wake(fresh); }
  }
  function tone() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { return; }
    try {
      if (!audio) { audio = new Ctx(); }
      if (audio.state === 'suspended' && audio.resume) { audio.resume(); }
      var now = audio.currentTime;
      // Two short beeps, 880 Hz then 660 Hz.
      [[880, 0], [660, 0.35]].forEach(function (b) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.type = 'sine';
        osc.frequency.value = b[0];
        gain.gain.setValueAtTime(0.0001, now + b[1]);
        gain.gain.exponentialRampToValueAtTime(0.4, now + b[1] + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + b[1] + 0.3);
        osc.connect(gain);
        gain.connect(audio.destination);
        osc.start(now + b[1]);
        osc.stop(now + b[1] + 0.32);
      });
    } catch (e) { /* no sound: the title and the notification still tell */ }
  }
  function wake(refs) {
    tone();
    if (navigator.vibrate) { try { navigator.vibrate([300, 150, 300]); } catch (e) {} }
    if (window.Notification && Notification.permission === 'granted' && alarm) {
      try {
        var n = new Notification(alarm.getAttribute('data-title'), {
          body: alarm.getAttribute('data-body') + ' ' + refs.join(', '),
          tag: 'careline-red',
          requireInteraction: true
        });
        n.onclick = function () { window.focus(); location.href = '/queue/' + refs[0]; };
      } catch (e) {}
    }
  }
  if (alarm) {
    var button = alarm.querySelector('button');
    var state = alarm.querySelector('.alarm-state');
    var show = function () {
      if (!window.Notification) { return; }
      var p = Notification.permission;
      if (p === 'granted') { state.textContent = alarm.getAttribute('data-on'); button.hidden = true; }
      else if (p === 'denied') { state.textContent = alarm.getAttribute('data-denied'); button.hidden = true; }
    };
    alarm.hidden = false;
    show();
    button.addEventListener('click', function () {
      // A click may start sound: browsers allow an AudioContext after a gesture.
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx && !audio) { try { audio = new Ctx(); } catch (e) {} }
      if (!window.Notification) { return; }
      var asked = Notification.requestPermission(show);
      if (asked && asked.then) { asked.then(show); }
    });
  }
  watchRed(doc, false);

  var events = new EventSource('/api/v1/alerts/events');
  events.addEventListener('queue', refresh);
  events.addEventListener('ping', function () {
    if (Date.now() - fetched > STALE) { refresh(); }
  });
  // Connected (again): the rows may be older than the stream.
  events.addEventListener('open', function () { say(true); refresh(); });
  // The browser reconnects by itself; a closed stream (signed out) stays off.
  events.addEventListener('error', function () { say(false); });

  function alertLive(box) {
    var id = box.getAttribute('data-alert');
    var note = doc.getElementById('live-note');
    var parts = ['alert-status', 'alert-assignee', 'timeline'];
    var viewers = 'alert-viewers';
    var busy = false;
    function typing() {
      var fields = doc.querySelectorAll('main textarea');
      for (var i = 0; i < fields.length; i++) { if (fields[i].value) { return true; } }
      return false;
    }
    function swap() {
      if (busy) { return; }
      busy = true;
      fetchPage(location.pathname)
        .then(function (fresh) {
          var changed = false;
          parts.forEach(function (name) {
            var now = fresh.getElementById(name), old = doc.getElementById(name);
            if (now && old && now.innerHTML !== old.innerHTML) {
              var node = doc.importNode(now, true);
              old.parentNode.replaceChild(node, old);
              changed = true;
            }
          });
          // Who else has the page open: refreshed quietly (no "changed" note).
          showViewers(fresh);
          var actions = fresh.querySelector('section.actions');
          var mine = doc.querySelector('section.actions');
          if (changed && actions && mine && !typing()) {
            mine.parentNode.replaceChild(doc.importNode(actions, true), mine);
          }
          if (changed && note) {
            note.hidden = false;
            note.textContent = box.getAttribute('data-updated');
          }
        })
        .catch(function () {})
        .then(function () { busy = false; });
    }
    /* Who else has this alert open (on any instance): asked every 15 s while the page is
       visible; each ask also tells the server this page is still open. */
    function showViewers(fresh) {
      var now = fresh.getElementById(viewers), old = doc.getElementById(viewers);
      if (now && old && now.textContent !== old.textContent) { old.textContent = now.textContent; }
    }
    function seen() {
      fetchPage(location.pathname.replace(/\/$/, '') + '/viewers')
        .then(showViewers)
        .catch(function () {});
    }
    setInterval(function () { if (!doc.hidden) { seen(); } }, 15000);
    var events = new EventSource('/api/v1/alerts/events');
    events.addEventListener('queue', function (e) {
      var data = {};
      try { data = JSON.parse(e.data || '{}'); } catch (x) {}
      if (!data.alert || data.alert === id) { swap(); }
    });
  }
}());
