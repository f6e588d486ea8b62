// The broadcast demo: a sender and a viewer on the real streams API (docs/streams.md).
const $ = (id) => document.getElementById(id);
let base = '';
let sender = null;
let viewer = null;
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const wsURL = (path) => location.origin.replace(/^http/, 'ws') + base + path;

async function post(path, body) {
  const res = await fetch(base + path, { method: 'POST', headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

$('start').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    // The stand-in gives a claim token, as the provider's callback would; the rest is the real flow.
    const { claimToken } = await post('/v0/auth/dev/claim', { name: $('name').value });
    const { twizzleAccessToken: token } = await post('/v0/claim?claimToken=' + encodeURIComponent(claimToken));
    const { stream } = await post('/v0/streams?twizzleAccessToken=' + encodeURIComponent(token));
    sender = new WebSocket(wsURL(`/v0/streams/${stream.streamID}/socket?twizzleAccessToken=${encodeURIComponent(token)}`));
    sender.onopen = () => {
      sender.send(JSON.stringify({ event: 'reset', data: { state: 'solved' } }));
      $('stream-id').textContent = stream.streamID;
      $('moves').hidden = false;
      $('start').hidden = true;
      $('status').textContent = 'streaming';
      refresh();
    };
    sender.onclose = () => { $('status').textContent = 'the stream socket closed'; };
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
  if (viewer) viewer.close();
  $('received').innerHTML = '';
  $('watching').textContent = id;
  viewer = new WebSocket(wsURL(`/v0/streams/${id}/socket`));
  viewer.onmessage = (e) => {
    const m = JSON.parse(e.data);
    const li = document.createElement('li');
    li.textContent = `${m.event} ${JSON.stringify(m.data)} · ${m.timestampHuman}`;
    $('received').append(li);
  };
  viewer.onclose = () => { $('watching').textContent = id + ' (ended)'; };
}

fetch('../api/session').then((r) => r.json()).then((s) => { if (s.prefixes?.streams !== undefined) base = s.prefixes.streams; refresh(); }).catch(refresh);
