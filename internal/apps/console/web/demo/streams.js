// The broadcast demo: a sender and a viewer on the real streams API (docs/streams.md).
const $ = (id) => document.getElementById(id);
let base = '';
let sender = null;
let viewer = null; // stops the current viewer socket
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const wsURL = (path) => location.origin.replace(/^http/, 'ws') + base + path;

async function post(path, body) {
  const res = await fetch(base + path, { method: 'POST', headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

// again reopens a stream socket after a restart or drain (any close but 1000, the stream's
// end), with a jittered delay, as every client of a node must.
// It returns what stops it.
function again(open, onEnd) {
  let tries = 0;
  let stopped = false;
  let sock = null;
  const connect = () => {
    if (stopped) return;
    sock = open();
    sock.addEventListener('open', () => { tries = 0; });
    sock.addEventListener('close', (e) => {
      if (stopped) return;
      if (e.code === 1000) { onEnd(); return; }
      tries++;
      setTimeout(connect, Math.random() * Math.min(10000, 500 * 2 ** tries));
    });
  };
  connect();
  return () => { stopped = true; sock?.close(); };
}

$('start').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    // The stand-in gives a claim token, as the provider's callback would; the rest is the real flow.
    const { claimToken } = await post('/v0/auth/dev/claim', { name: $('name').value });
    const { twizzleAccessToken: token } = await post('/v0/claim?claimToken=' + encodeURIComponent(claimToken));
    const { stream } = await post('/v0/streams?twizzleAccessToken=' + encodeURIComponent(token));
    let first = true;
    again(() => {
      sender = new WebSocket(wsURL(`/v0/streams/${stream.streamID}/socket?twizzleAccessToken=${encodeURIComponent(token)}`));
      sender.onopen = () => {
        if (first) sender.send(JSON.stringify({ event: 'reset', data: { state: 'solved' } }));
        first = false;
        $('stream-id').textContent = stream.streamID;
        $('moves').hidden = false;
        $('start').hidden = true;
        $('status').textContent = 'streaming';
        refresh();
      };
      return sender;
    }, () => { $('status').textContent = 'the stream ended'; });
  } catch (err) {
    $('status').textContent = 'could not start: ' + err.message;
  }
});

for (const m of ['R', "R'", 'U', "U'", 'F', "F'", 'L', 'D', 'B']) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = m;
  b.setAttribute('aria-label', 'Send move ' + m);
  b.addEventListener('click', () => sender?.send(JSON.stringify({ event: 'move', data: { move: m } })));
  $('move-buttons').append(b, ' ');
}

async function refresh() {
  const { streams } = await (await fetch(base + '/v0/streams')).json();
  $('streams').innerHTML = streams.length ? streams.map((s) => `<tr><td><code>${esc(s.streamID)}</code></td><td>${esc(s.senders.map((u) => u.name).join(', ') || 'anonymous')}</td>` +
    `<td><button type="button" data-watch="${esc(s.streamID)}">Watch</button></td></tr>`).join('') : '<tr><td colspan="3" class="muted">no live stream</td></tr>';
  for (const b of document.querySelectorAll('[data-watch]')) b.addEventListener('click', () => watch(b.dataset.watch));
}
$('refresh').addEventListener('click', refresh);

function watch(id) {
  viewer?.(); // stop watching the one before
  $('received').innerHTML = '';
  $('watching').textContent = id;
  viewer = again(() => {
    const sock = new WebSocket(wsURL(`/v0/streams/${id}/socket`));
    sock.onmessage = (e) => {
      const m = JSON.parse(e.data);
      const li = document.createElement('li');
      li.textContent = `${m.event} ${JSON.stringify(m.data)} · ${m.timestampHuman}`;
      $('received').append(li);
    };
    return sock;
  }, () => { $('watching').textContent = id + ' (ended)'; });
}

fetch('../api/session').then((r) => r.json()).then((s) => { if (s.prefixes?.streams !== undefined) base = s.prefixes.streams; refresh(); }).catch(refresh);
