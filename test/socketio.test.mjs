// Black-box test of the socket.io layer shared by chat and the live counter, with every client
// generation keenchat and frust users run: socket.io-client 1.7.4 (keenchat's own era),
// 2.x and 4.8.4, over long-polling and WebSocket, against a Switchboard started by
// scripts/test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import io1 from 'sio1';
import io2 from 'sio2';
import io4 from 'sio4';

const base = process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080';
const guardMs = 15000; // bounds every wait; not a speed assertion

function client(io, path, transports, extra = {}) {
  const sock = io(base, { path, transports, forceNew: true, reconnection: false, ...extra });
  const seen = [];
  const waiters = [];
  const record = (name) => sock.on(name, (data) => {
    seen.push({ name, data });
    for (const w of [...waiters]) if (w.check()) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });
  for (const name of ['click', 'post message', 'identified', 'disconnect']) record(name);
  const until = (check, what) => new Promise((resolve, reject) => {
    if (check()) return resolve();
    const t = setTimeout(() => reject(new Error(`${what}: not reached; seen ${JSON.stringify(seen).slice(0, 400)}`)), guardMs);
    waiters.push({ check, resolve: () => { clearTimeout(t); resolve(); } });
  });
  const connected = new Promise((resolve, reject) => {
    sock.on('connect', resolve);
    sock.on('connect_error', reject);
    sock.on('error', reject);
  });
  return { sock, seen, until, connected };
}

const generations = [['1.7.4', io1], ['2.5.0', io2], ['4.8.4', io4]];
const transportSets = [['polling'], ['websocket']];

// The first non-ASCII message used to drop a 1.x long-polling connection: Engine.IO 3 payload
// lengths count UTF-8 bytes for 1.x and UTF-16 units for 2.x. Every sender and receiver
// pair here carries accents, an em dash and emoji both ways.
test('non-ASCII text both ways between every client generation and transport', async () => {
  const clients = [];
  for (const [gen, io] of generations) {
    for (const transports of transportSets) clients.push({ label: `${gen} ${transports[0]}`, ...client(io, '/api/socket.io', transports) });
  }
  await Promise.all(clients.map((c) => c.connected));
  const tag = crypto.randomUUID().slice(0, 4);
  for (const [i, sender] of clients.entries()) {
    const user = `Zoë🎉${tag}${i}`; // 15 characters at most, as frust-web allows
    const comment = `ça va — naïve 😀 #${i}`;
    sender.sock.emit('click', { user, comment, style: 'green' });
    await Promise.all(clients.map((c) => c.until(() => c.seen.some((e) => e.name === 'click' && e.data.user === user && e.data.comment === comment),
      `${c.label} receives from ${sender.label}`)));
  }
  for (const c of clients) {
    assert.ok(!c.seen.some((e) => e.name === 'disconnect'), `${c.label} stayed connected: ${JSON.stringify(c.seen.filter((e) => e.name === 'disconnect'))}`);
    c.sock.disconnect();
  }
});

test('keenchat over socket.io-client 1.7.4 long-polling: a message with emoji reaches an identified socket', async () => {
  const username = 'u' + crypto.randomUUID().replaceAll('-', '').slice(0, 12);
  const rest = async (method, path, body) => {
    const res = await fetch(base + '/chat' + path, { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return res.json();
  };
  await rest('POST', '/user', { username, password: 'secret-1' });
  const login = await rest('POST', '/auth', { username, password: 'secret-1' });
  const c = client(io1, '/chat/socket.io', ['polling']);
  await c.connected;
  c.sock.emit('identify', login.token_value);
  await c.until(() => c.seen.some((e) => e.name === 'identified'), 'identified');
  const text = `Grüße aus Köln 🇩🇪 — ${username}`;
  const posted = await fetch(`${base}/chat/message?auth=${login.token_value}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message_text: text, channel_id: 1 }),
  });
  assert.equal(posted.status, 200);
  await c.until(() => c.seen.some((e) => e.name === 'post message' && e.data.message_body === text), 'post message');
  c.sock.disconnect();
});

// A page on another origin gets WebSocket on socket.io as on /v1/ws (cors_origins is "*" by
// default), for every client generation.
test('cross-origin WebSocket upgrade on socket.io', async () => {
  for (const [gen, io] of generations) {
    const c = client(io, '/api/socket.io', ['websocket'], { extraHeaders: { Origin: 'https://elsewhere.example' } });
    await c.connected;
    assert.ok(c.sock.connected, gen);
    c.sock.disconnect();
  }
});

// A broadcast to a WebSocket takes the engine's fast path (the shared frame onto the
// connection's queue), but packets still waiting in the socket's buffer, as they do while a
// client upgrades from long-polling, must go first. Clients of every generation connect with
// their default transports (polling, then the upgrade) while a stream of clicks is broadcast:
// each gets every click, in the order sent, and ends on WebSocket.
test('broadcasts keep their order across the long-polling to WebSocket upgrade', async () => {
  const receivers = generations.map(([gen, io]) => ({ label: gen, ...client(io, '/api/socket.io', ['polling', 'websocket']) }));
  const sender = client(io4, '/api/socket.io', ['websocket']);
  await Promise.all([sender.connected, ...receivers.map((r) => r.connected)]);
  const tag = crypto.randomUUID().slice(0, 6);
  const n = 80; // within one connection's click burst (twice click_rate)
  for (let i = 0; i < n; i++) sender.sock.emit('click', { user: `order${tag}`.slice(0, 15), comment: `${tag} ${i}` });
  const order = (c) => c.seen.filter((e) => e.name === 'click' && e.data.comment?.startsWith(tag + ' ')).map((e) => Number(e.data.comment.split(' ')[1]));
  await Promise.all(receivers.map((r) => r.until(() => order(r).length >= n, `${r.label} receives ${n} clicks`)));
  // The upgrade raises no event the helper records: poll for it (bounded by guardMs).
  const upgraded = async (r) => {
    for (const start = Date.now(); r.sock.io.engine.transport.name !== 'websocket'; await new Promise((ok) => setTimeout(ok, 20))) {
      if (Date.now() - start > guardMs) throw new Error(`${r.label}: still on ${r.sock.io.engine.transport.name}`);
    }
  };
  await Promise.all(receivers.map(upgraded));
  for (const r of receivers) {
    assert.deepEqual(order(r), Array.from({ length: n }, (_, i) => i), `${r.label} got the clicks in order`);
    assert.ok(!r.seen.some((e) => e.name === 'disconnect'), `${r.label} stayed connected`);
    r.sock.disconnect();
  }
  sender.sock.disconnect();
});
