/* Careline staff workspace: keeps the queue live and shows times in the browser's zone.
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
  var lang = doc.documentElement.lang || undefined;

  function localTimes(root) {
    var times = root.querySelectorAll('time.when[datetime]');
    for (var i = 0; i < times.length; i++) {
      var d = new Date(times[i].getAttribute('datetime'));
      if (isNaN(d.getTime())) { continue; }
      times[i].title = times[i].textContent;
      times[i].textContent = d.toLocaleString(lang, {
        month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit'
      });
    }
  }
  localTimes(doc);

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
    fetch(src, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
      .then(function (r) {
        if (!r.ok) { throw new Error('rows: ' + r.status); }
        return r.text();
      })
      .then(function (html) {
        var parsed = new DOMParser().parseFromString(html, 'text/html');
        var fresh = parsed.getElementById('queue-rows');
        var old = doc.getElementById('queue-rows');
        if (!fresh || !old) { return; }
        var node = doc.importNode(fresh, true);
        localTimes(node);
        old.parentNode.replaceChild(node, old);
        doc.title = node.getAttribute('data-title');
        if (count) { count.textContent = node.getAttribute('data-open-red'); }
        say(true);
      })
      .catch(function () { say(false); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var events = new EventSource('/api/v1/alerts/events');
  events.addEventListener('queue', refresh);
  events.addEventListener('ping', function () {
    if (Date.now() - fetched > STALE) { refresh(); }
  });
  // Connected (again): the rows may be older than the stream.
  events.addEventListener('open', function () { say(true); refresh(); });
  // The browser reconnects by itself; a closed stream (signed out) stays off.
  events.addEventListener('error', function () { say(false); });
}());
