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

function show(id, navID = id) {
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== id;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === navID) a.setAttribute('aria-current', 'page');
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
  try {
    const { apps } = await api('apps');
    $('app-links').innerHTML = apps.map((n) => `<a href="#/app/${n}" data-page="app-${n}">${esc(titles[n] ?? n)}</a>`).join('');
  } catch { /* the pages of the apps are extras */ }
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
  $('f-nodes').textContent = f.nodes?.length ? String(f.nodes.length) : '1 (no cluster)';
  $('f-nodes').title = (f.nodes ?? []).join(', ');
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
  if (page === 'app' && rest[0]) {
    show('app', 'app-' + rest[0]);
    openApp(rest[0]);
    return;
  }
  closeApp();
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
  if (q) location.hash = '#/channels/' + encodeURIComponent(q);
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

// App pages: each app's state, pushed every 2 s over SSE while its page is open, and its
// actions (admins).
const titles = { chat: 'Chat', counter: 'Counter', streams: 'Streams', signal: 'Signaling' };
let appFeed = null;
let appName = '';

function closeApp() {
  if (appFeed) { appFeed.close(); appFeed = null; }
  appName = '';
}

function openApp(name) {
  if (appName === name) return;
  closeApp();
  appName = name;
  $('app-title').textContent = titles[name] ?? name;
  $('app-body').innerHTML = '';
  $('app-result').textContent = '';
  $('app-status').textContent = 'loading…';
  const es = new EventSource(`api/app/${encodeURIComponent(name)}/feed`);
  appFeed = es;
  es.addEventListener('snapshot', (e) => {
    $('app-status').textContent = 'live · updated ' + new Date().toLocaleTimeString('en-GB');
    (renderers[name] ?? renderRaw)(JSON.parse(e.data));
  });
  es.addEventListener('failed', (e) => { $('app-status').textContent = 'could not read the app: ' + JSON.parse(e.data); });
}

const admin = () => state.session?.mode === 'admin';
const table = (head, rows, empty) => `<table><thead><tr>${head.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead><tbody>${
  rows.length ? rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('') : `<tr><td colspan="${head.length}" class="muted">${esc(empty)}</td></tr>`}</tbody></table>`;
const cards = (pairs) => `<dl class="cards">${pairs.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>`;

function renderRaw(snap) { $('app-body').innerHTML = `<pre>${esc(JSON.stringify(snap, null, 2))}</pre>`; }

// keep re-renders from wiping what an admin is typing.
function keepInput(id, fn) {
  const el = $(id);
  const value = el?.value;
  const focused = document.activeElement === el;
  fn();
  if (el && $(id)) { $(id).value = value; if (focused) $(id).focus(); }
}

const renderers = {
  counter(s) {
    const st = s.stats;
    const body = $('app-body');
    body.innerHTML = cards([['Clicks, total', fmt(st.click_count_total)], ['Clicks today', fmt(st.click_count_today)], ['Clicks this hour', fmt(st.click_count_hour)],
      ['Events, total', fmt(st.event_count_total)], ['Events today', fmt(st.event_count_today)], ['Online', fmt(s.online.length)]]) +
      '<h3>Clicks per hour, today (UTC)</h3><div class="bars" id="hour-bars" role="img" aria-label="clicks per hour today"></div>' +
      '<h3>Online</h3>' + table(['Name', 'Clicks this session', 'Events this session'],
        s.online.map((o) => [esc(o.name ?? 'anonymous'), o.click_count_session, o.event_count_session]), 'nobody');
    // One bar per hour since midnight (UTC), an hour without a row as zero.
    const byHour = new Map(s.hours_today.map((h) => [new Date(h.timestamp * 1000).getUTCHours(), h.click_count]));
    const hours = [...Array(new Date().getUTCHours() + 1).keys()];
    const peak = Math.max(1, ...byHour.values());
    for (const hr of hours) {
      const n = byHour.get(hr) ?? 0;
      const bar = document.createElement('span');
      bar.style.height = (n / peak) * 100 + '%';
      bar.title = `${String(hr).padStart(2, '0')}:00 UTC: ${n} clicks`;
      $('hour-bars').append(bar);
    }
  },
  chat(s) {
    keepInput('kick-name', () => {
      $('app-body').innerHTML = cards([['Users', fmt(s.users)], ['Channels', fmt(s.channels.length)], ['In a channel now', fmt(s.channels.reduce((n, c) => n + c.online.length, 0))]]) +
        '<h3>Channels</h3>' + table(['Channel', 'Description', 'In it now'], s.channels.map((c) => [esc(c.title), esc(c.description), esc(c.online.join(', ') || '–')]), 'no channels') +
        '<h3>Newest messages</h3>' + table(['Time', 'User', 'Channel', 'Message'], s.messages.map((m) => [esc(new Date(m.time).toLocaleTimeString('en-GB')), esc(m.username), m.channel_id, esc(m.message_text)]), 'no messages') +
        `<h3>Disconnect a user</h3><form id="kick-form" class="row"><label for="kick-name">Username (their sign-ins are revoked, their sockets closed on every node)</label><input id="kick-name" autocomplete="off" required><button type="submit" ${admin() ? '' : 'disabled'}>Disconnect</button></form>`;
    });
    $('kick-form').addEventListener('submit', (e) => { e.preventDefault(); act('chat', 'disconnect', { username: $('kick-name').value.trim() }); });
  },
  streams(s) {
    $('app-body').innerHTML = cards([['Live streams', fmt(s.streams.length)], ['Viewers, every node', fmt(s.streams.reduce((n, x) => n + x.viewers, 0))], ['Viewers on this node', fmt(s.streams.reduce((n, x) => n + x.viewers_here, 0))]]) +
      table(['Stream', 'Sender', 'Sender connected', 'Viewers', 'On this node', ''], s.streams.map((x) => [
        `<code>${esc(x.streamID)}</code>`, esc(x.senders.map((u) => u.name + (u.wcaID ? ` (${u.wcaID})` : '')).join(', ') || 'anonymous'),
        x.senders_connected ? 'yes' : 'no', x.viewers, x.viewers_here,
        `<button type="button" data-end="${esc(x.streamID)}" ${admin() ? '' : 'disabled'} aria-label="End stream ${esc(x.streamID)}">End</button>`]), 'no live stream');
    for (const b of document.querySelectorAll('[data-end]')) b.addEventListener('click', () => act('streams', 'end', { stream: b.dataset.end }));
  },
  signal(s) {
    const gens = Object.entries(s.totals).sort();
    $('app-body').innerHTML = cards(gens.length ? gens.map(([g, t]) => [`${g.toUpperCase()} offers waiting / answered`, `${t.waiting} / ${t.answered}`]) : [['Live offers', '0']]) +
      '<h3>Live offers by topic or tag</h3>' + table(['Generation', 'Topic / tag', 'Waiting', 'Answered'],
        s.tags.map((t) => [`G${t.gen}`, esc(t.tag), t.waiting, t.answered]), 'no live offers');
  },
};

async function act(app, action, params) {
  try {
    const r = await api(`app/${app}/${action}`, { method: 'POST', body: JSON.stringify(params) });
    $('app-result').textContent = `${action}: done ${JSON.stringify(r)}`;
  } catch (err) {
    $('app-result').textContent = `${action} refused: ${err.message}`;
  }
}

window.addEventListener('hashchange', route);
start();
