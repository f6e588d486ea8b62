// Black-box test of the frust-compatible live counter with the real socket.io-client 2.3.0
// (the version frust-web vendors, Engine.IO 3) and 4.8.4, against a Switchboard started by
// scripts/test: many clients clicking at once, every client sees every click, the counters
// add up exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import io23 from 'sio23';
import io4 from 'sio4';

const base = process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080';
const guardMs = 15000; // bounds every wait; not a speed assertion

async function api(path) {
  const res = await fetch(base + '/api' + path);
  assert.equal(res.status, 200);
  return res.json();
}

// apiUntil reads path until pred holds of the answer: a click is broadcast before it is
// stored, and stored within one commit window (docs/counter.md); a read on the node that took
// the click waits for that, a read on another node of a cluster may not.
async function apiUntil(path, pred) {
  const deadline = Date.now() + guardMs;
  for (;;) {
    const v = await api(path);
    if (pred(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function connect(io) {
  const sock = io(base, { path: '/api/socket.io', forceNew: true, reconnection: false });
  const seen = { click: [], event: [], message: [], stats: [], status: [] };
  const waiters = [];
  for (const name of Object.keys(seen)) {
    sock.on(name, (data) => {
      seen[name].push(data);
      for (const w of [...waiters]) if (w.check()) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
    });
  }
  // until resolves once check() holds, re-checked after every event.
  const until = (check) => new Promise((resolve, reject) => {
    if (check()) return resolve();
    const t = setTimeout(() => reject(new Error('condition not reached; seen ' + JSON.stringify(seen).slice(0, 500))), guardMs);
    waiters.push({ check, resolve: () => { clearTimeout(t); resolve(); } });
  });
  const connected = new Promise((resolve, reject) => { sock.on('connect', resolve); sock.on('connect_error', reject); });
  return { sock, seen, until, connected };
}

const clients = 10;
const clicksEach = 15;

test(`${clients} clients (2.3.0 and 4.8.4) clicking at once: everyone sees every click, counters add up`, async () => {
  const before = await api('/current_stats');
  const cs = [];
  for (let i = 0; i < clients; i++) cs.push(connect(i % 2 ? io4 : io23));
  await Promise.all(cs.map((c) => c.connected));
  await Promise.all(cs.map((c) => c.until(() => c.seen.stats.length > 0)));
  assert.ok(cs[0].seen.stats[0].click_count_total >= before.click_count_total);

  const tag = 'T' + Date.now().toString(36).slice(-6);
  cs.forEach((c, i) => { for (let k = 0; k < clicksEach; k++) c.sock.emit('click', { user: `${tag}${i}`, comment: `c${k}`, style: 'green dotted evil-class' }); });
  const total = clients * clicksEach;
  const mine = (c) => c.seen.click.filter((x) => x.user.startsWith(tag)).length;
  await Promise.all(cs.map((c) => c.until(() => mine(c) === total)));

  const click = cs[0].seen.click.find((x) => x.user === `${tag}0`);
  assert.equal(click.style, 'green dotted'); // an unknown class is dropped
  assert.equal(typeof click.timestamp, 'number');
  assert.ok(click.timestamp < 1e11, 'timestamps are seconds');

  const after = await apiUntil('/current_stats', (s) => s.click_count_total - before.click_count_total >= total);
  assert.equal(after.click_count_total - before.click_count_total, total);
  assert.equal(after.click_count_today - before.click_count_today, total);
  const users = await apiUntil('/users', (us) => us.filter((u) => u.name.startsWith(tag)).reduce((n, u) => n + u.click_count, 0) >= total);
  for (let i = 0; i < clients; i++) assert.equal(users.find((u) => u.name === `${tag}${i}`).click_count, clicksEach);
  const online = await api('/online_users');
  assert.ok(online.filter((u) => u.name && u.name.startsWith(tag)).every((u) => u.click_count_session === clicksEach));
  const latest = await apiUntil('/latest_clicks', (l) => l.filter((x) => x.user.startsWith(tag)).length >= total);
  assert.equal(latest.filter((x) => x.user.startsWith(tag)).length, total);
  const hours = await api('/latest_hours');
  const last = hours[hours.length - 1];
  assert.equal(last.click_count_total, after.click_count_total);
  assert.equal(last.timestamp % 3600, 0);

  // Joins were announced once per name, in frust's words.
  const joins = cs[1].seen.message.filter((m) => m.text.startsWith(tag) && m.text.endsWith(' ist beigetreten.'));
  assert.equal(joins.length, clients);
  assert.deepEqual(Object.keys(joins[0]), ['text', 'style', 'type']);
  assert.equal(joins[0].style, 'medium highlight');
  assert.equal(joins[0].type, 'toast');
  for (const c of cs) c.sock.disconnect();
});

test('auth, rename, events, leave, and what is refused', async () => {
  const a = connect(io23); const b = connect(io4);
  await Promise.all([a.connected, b.connected]);
  await b.until(() => b.seen.status.length > 0);
  const n = 'N' + Date.now().toString(36).slice(-6);
  a.sock.emit('auth', `  ${n}  `);
  await b.until(() => b.seen.message.some((m) => m.text === `${n} ist beigetreten.`));
  a.sock.emit('auth', `${n}x`);
  await b.until(() => b.seen.message.some((m) => m.text === `${n} hat sich umbenannt zu ${n}x.`));

  // Refused: an unknown event, a markup comment keeps its text without <, a too-long name.
  a.sock.emit('event', { user: `${n}x`, name: 'alert' });
  a.sock.emit('click', { user: 'x'.repeat(16), comment: 'too long a name' });
  a.sock.emit('click', 'not an object');
  a.sock.emit('click', { user: `${n}x`, comment: '<img src=x onerror=alert(1)>' });
  await b.until(() => b.seen.click.some((c) => c.user === `${n}x`));
  const clicked = b.seen.click.filter((c) => c.user === `${n}x` || c.user === 'x'.repeat(16));
  assert.equal(clicked.length, 1);
  assert.equal(clicked[0].comment, 'img src=x onerror=alert(1)');

  a.sock.emit('event', { user: `${n}x`, name: 'einstein' });
  await b.until(() => b.seen.event.some((e) => e.name === 'einstein' && e.user === `${n}x`));
  assert.ok(b.seen.message.some((m) => m.text === `${n}x triggered einstein!`));
  assert.ok(!b.seen.event.some((e) => e.name === 'alert'));
  const events = await apiUntil('/latest_events', (es) => es.some((e) => e.user === `${n}x` && e.name === 'einstein'));
  assert.ok(events.some((e) => e.user === `${n}x` && e.name === 'einstein'));

  const count = b.seen.status.length;
  a.sock.disconnect();
  await b.until(() => b.seen.message.some((m) => m.text === `${n}x hat verlassen.`) && b.seen.status.length > count);
  b.sock.disconnect();
});

test('a held key (35 clicks/s for 2.5 s, frust-web on 2.3.0) loses no click, with the default limits', async () => {
  const a = connect(io23); const b = connect(io4);
  await Promise.all([a.connected, b.connected]);
  await Promise.all([a, b].map((c) => c.until(() => c.seen.stats.length > 0)));
  const before = await api('/current_stats');
  const n = 'K' + Date.now().toString(36).slice(-6);
  // One click per key repeat, as frust-web sends them. 90 fit the default burst (100) even if
  // a loaded server takes them all at once; the old default (10/s, bursts of 20) dropped most.
  const total = 90;
  await new Promise((resolve) => {
    let sent = 0;
    const t = setInterval(() => {
      a.sock.emit('click', { user: n, comment: '', style: 'fire ' });
      if (++sent === total) { clearInterval(t); resolve(); }
    }, 1000 / 35);
  });
  await b.until(() => b.seen.click.filter((c) => c.user === n).length === total);
  assert.ok(b.seen.click.filter((c) => c.user === n).every((c) => c.style === 'fire'), 'the /fire style arrives');
  const after = await apiUntil('/current_stats', (s) => s.click_count_total - before.click_count_total >= total);
  assert.ok(after.click_count_total - before.click_count_total >= total);
  const users = await apiUntil('/users', (us) => us.find((u) => u.name === n)?.click_count === total);
  assert.equal(users.find((u) => u.name === n).click_count, total);
  a.sock.disconnect(); b.sock.disconnect();
});

test('clicks sent right before the socket closes are all counted', async () => {
  const watcher = connect(io4);
  await watcher.connected;
  const before = await api('/current_stats');
  const n = 'Q' + Date.now().toString(36).slice(-6);
  for (const io of [io23, io4]) {
    const quick = io(base, { path: '/api/socket.io', forceNew: true, reconnection: false, transports: ['websocket'] });
    await new Promise((resolve) => quick.on('connect', resolve));
    for (let i = 0; i < 20; i++) quick.emit('click', { user: n, comment: `q${i}` });
    quick.close(); // at once: the server has read the clicks, the socket is gone
  }
  const after = await apiUntil('/current_stats', (s) => s.click_count_total - before.click_count_total >= 40);
  assert.equal(after.click_count_total - before.click_count_total, 40, 'every click of the closed sockets is counted once');
  await watcher.until(() => watcher.seen.click.filter((c) => c.user === n).length === 40);
  watcher.sock.disconnect();
});
