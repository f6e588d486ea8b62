// The console page: a live view of the node (the SSE feed at api/feed), and its channels
// through the native API's own JavaScript client. No framework, no build step, nothing
// fetched from anywhere but this node.

const $ = (id) => document.getElementById(id);
const state = { session: null, samples: [], feed: null, client: null, sub: null, channel: '', lastChannels: -1 };

async function api(path, opts = {}) {
  const res = await fetch('api/' + path, {
    ...opts,
    headers: opts.body ? { 'Content-Type': 'application/json' } : {},
    credentials: 'same-origin',
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

function show(id) {
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== id;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function start() {
  let s;
  try {
    s = await api('session');
  } catch (err) {
    $('mode').textContent = 'server unreachable: ' + err.message;
    setTimeout(start, 2000);
    return;
  }
  state.session = s;
  const badge = $('mode');
  badge.className = 'badge ' + s.mode;
  badge.textContent = { admin: 'signed in', readonly: 'read-only', signin: 'signed out', off: 'off' }[s.mode] + (s.version ? ' · ' + s.version : '');
  badge.title = s.reason || '';
  $('signout').hidden = s.mode !== 'admin';
  document.querySelector('nav').hidden = s.mode === 'off' || s.mode === 'signin';
  for (const a of document.querySelectorAll('a[href="/v1/client.js"]')) a.href = s.native_prefix + '/v1/client.js';
  if (s.mode === 'off') {
    $('off-why').textContent = s.reason;
    show('off');
    return;
  }
  if (s.mode === 'signin') {
    $('signin-why').textContent = s.reason;
    show('signin');
    $('password').focus();
    return;
  }
  const publish = $('publish-button');
  publish.disabled = s.mode !== 'admin';
  publish.title = s.mode === 'admin' ? '' : s.reason;
  openFeed();
  route();
}

// The feed: every sample kept on open ("history"), then one a second ("stats").
function openFeed() {
  if (state.feed) return;
  const es = new EventSource('api/feed');
  state.feed = es;
  es.addEventListener('history', (e) => {
    state.samples = JSON.parse(e.data) ?? [];
    if (state.samples.length) render(state.samples[state.samples.length - 1]);
  });
  es.addEventListener('stats', (e) => {
    const f = JSON.parse(e.data);
    state.samples.push(f);
    if (state.samples.length > 300) state.samples.shift();
    render(f);
  });
  es.onerror = () => { if (es.readyState === 2) { state.feed = null; setTimeout(start, 2000); } };
}

const fmt = (n) => (n >= 100 || Number.isInteger(n) ? Math.round(n).toLocaleString('en') : n.toFixed(1));

function duration(s) {
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}

function render(f) {
  $('f-conns').textContent = fmt(f.connections_total);
  $('f-channels').textContent = fmt(f.channels);
  $('f-pubs').textContent = fmt(f.publications_per_s);
  $('f-delivs').textContent = fmt(f.deliveries_per_s);
  $('f-slow').textContent = fmt(f.disconnects.slow ?? 0);
  $('f-errors').textContent = fmt(f.http_errors);
  $('f-uptime').textContent = duration(f.uptime_s);
  $('f-engines').textContent = `${f.store} · ${f.broker}`;
  const rows = f.connections.map((c) => `<tr><td>${esc(c.app)}</td><td>${esc(c.transport)}</td><td>${c.n}</td></tr>`);
  $('conn-table').innerHTML = rows.join('') || '<tr><td colspan="3" class="muted">none</td></tr>';
  const counts = [...Object.entries(f.refused).map(([k, v]) => `refused (${k}): ${v}`), ...Object.entries(f.disconnects).map(([k, v]) => `disconnected (${k}): ${v}`)];
  $('f-refused').textContent = counts.join(' · ') || 'none';
  chart($('c-conns'), state.samples.map((s) => s.connections_total));
  chart($('c-pubs'), state.samples.map((s) => s.publications_per_s));
  chart($('c-delivs'), state.samples.map((s) => s.deliveries_per_s));
  if (f.channels !== state.lastChannels) {
    state.lastChannels = f.channels;
    if (location.hash.startsWith('#/channels')) listChannels();
  }
}

// chart draws values (one a second, newest right) as a line over the last 300 seconds.
function chart(svg, values) {
  const peak = Math.max(1, ...values);
  const x0 = 300 - values.length;
  const pts = values.map((v, i) => `${x0 + i},${(76 - (v / peak) * 68).toFixed(1)}`).join(' ');
  svg.innerHTML = `<polyline points="${pts}"></polyline><text x="2" y="9">${fmt(peak)}</text><text x="2" y="78">0</text>`;
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function route() {
  const [, page = 'overview', ...rest] = location.hash.split('/');
  if (!state.session || state.session.mode === 'off' || state.session.mode === 'signin') return;
  if (page === 'channels') {
    show('channels');
    listChannels();
    const name = decodeURIComponent(rest.join('/'));
    if (name) openChannel(name);
    else closeChannel();
  } else {
    show('overview');
  }
}

async function listChannels() {
  const q = $('search').value.trim();
  try {
    const { channels } = await api('channels' + (q ? '?q=' + encodeURIComponent(q) : ''));
    const rows = channels.map((c) => `<tr><td><a href="#/channels/${encodeURIComponent(c.name)}">${esc(c.name)}</a></td><td>${c.num_subscribers ?? c.subscribers ?? ''}</td></tr>`);
    $('channel-list').innerHTML = rows.join('') || '<tr><td colspan="2" class="muted">no channel has subscribers on this node</td></tr>';
  } catch (err) {
    $('channel-list').innerHTML = `<tr><td colspan="2" class="error">${esc(err.message)}</td></tr>`;
  }
}

function closeChannel() {
  $('channel').hidden = true;
  if (state.sub) { state.sub.unsubscribe(); state.sub = null; }
  state.channel = '';
}

async function openChannel(name) {
  if (state.channel === name) return;
  closeChannel();
  state.channel = name;
  $('channel').hidden = false;
  $('ch-name').textContent = name;
  $('tail').innerHTML = '';
  $('publish-result').textContent = '';
  await details(name);
  if (!state.client) {
    const { Client } = await import(state.session.native_prefix + '/v1/client.js');
    state.client = new Client(location.origin, {
      prefix: state.session.native_prefix,
      getToken: async () => (await api('token?channel=' + encodeURIComponent(state.channel))).token,
    });
    state.client.on('state', ({ state: s }) => { $('tail-state').textContent = s; });
  }
  if (state.channel !== name) return;
  state.sub = state.client.subscribe(name, {
    subscribed: (s) => { line($('tail'), `subscribed at offset ${s.offset}${s.recovered ? ' (recovered what was missed)' : ''}`); listChannels(); },
    publication: (p) => { line($('tail'), `#${p.offset} ${JSON.stringify(p.data)}`); soon(() => details(name)); },
    join: (i) => { line($('tail'), `join ${i.user || i.client}`); details(name); },
    leave: (i) => { line($('tail'), `leave ${i.user || i.client}`); details(name); },
    error: (err) => line($('tail'), `refused: ${err.message}`),
  });
}

// soon runs fn once, half a second after the last call: a burst of publications refreshes the
// history once.
let soonTimer = 0;
function soon(fn) {
  clearTimeout(soonTimer);
  soonTimer = setTimeout(fn, 500);
}

function line(list, text) {
  const li = document.createElement('li');
  li.textContent = text;
  list.append(li);
  while (list.children.length > 200) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

async function details(name) {
  try {
    const d = await api('channel?name=' + encodeURIComponent(name));
    const pres = $('presence');
    pres.innerHTML = '';
    if (d.presence === null) line(pres, 'presence is off in this namespace');
    else {
      const members = Object.values(d.presence.presence ?? {});
      if (!members.length) line(pres, 'nobody');
      for (const m of members) line(pres, `${m.user || 'anonymous'} (${m.client})`);
    }
    const hist = $('history');
    hist.innerHTML = '';
    const pubs = d.history.publications ?? [];
    if (!pubs.length) line(hist, 'no history kept');
    for (const p of pubs) line(hist, `#${p.offset} ${JSON.stringify(p.data)}`);
  } catch (err) {
    $('presence').innerHTML = '';
    line($('presence'), err.message);
  }
}

$('signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('signin-error').textContent = '';
  try {
    await api('login', { method: 'POST', body: JSON.stringify({ password: $('password').value }) });
    $('password').value = '';
    if (!location.hash) location.hash = '#/overview';
    start();
  } catch (err) {
    $('signin-error').textContent = err.message;
  }
});

$('signout').addEventListener('click', async () => {
  await api('logout', { method: 'POST', body: '{}' }).catch(() => {});
  if (state.feed) { state.feed.close(); state.feed = null; }
  if (state.client) { state.client.close(); state.client = null; }
  start();
});

$('search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const q = $('search').value.trim();
  if (q.includes(':') || q) location.hash = '#/channels/' + encodeURIComponent(q);
});
$('search').addEventListener('input', () => listChannels());

$('publish-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const out = $('publish-result');
  let data;
  try {
    data = JSON.parse($('publish-data').value);
  } catch {
    out.textContent = 'not JSON: ' + $('publish-data').value.slice(0, 40);
    return;
  }
  try {
    const r = await api('publish', { method: 'POST', body: JSON.stringify({ channel: state.channel, data }) });
    out.textContent = `published at offset ${r.offset}`;
  } catch (err) {
    out.textContent = 'refused: ' + err.message;
  }
});

window.addEventListener('hashchange', route);
start();
