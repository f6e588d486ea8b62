// Black-box test of the keenchat-compatible chat: REST with fetch, realtime with the real
// socket.io-client 2.5.0 (Engine.IO 3, what keenchat's own era spoke) and 4.8.4 (Engine.IO 4),
// against a Switchboard started by scripts/test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import io2 from 'sio2';
import io4 from 'sio4';

const base = process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080';
const chat = base + '/chat';
const guardMs = 10000; // bounds every wait; not a speed assertion

async function rest(method, path, body) {
  const res = await fetch(chat + path, {
    method, headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function signup() {
  const username = 'u' + crypto.randomUUID().replaceAll('-', '').slice(0, 12);
  const password = 'pw-' + crypto.randomUUID();
  const created = await rest('POST', '/user', { username, password });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const login = await rest('POST', '/auth', { username, password });
  assert.equal(login.status, 200);
  assert.equal(login.body.user_id, created.body.id);
  assert.match(login.body.token_value, /^[0-9a-f]{64}$/);
  return { id: created.body.id, username, token: login.body.token_value };
}

// connect opens a socket and records every event it receives.
function connect(io) {
  const sock = io(base, { path: '/chat/socket.io', forceNew: true, reconnection: false });
  const events = [];
  const waiters = [];
  const names = ['identified', 'identity failure', 'post user', 'post message', 'channel movement', 'start typing', 'stop typing', 'post channel'];
  for (const name of names) {
    sock.on(name, (data) => {
      const ev = { name, data };
      const i = waiters.findIndex((w) => w.match(ev));
      if (i >= 0) waiters.splice(i, 1)[0].resolve(ev); else events.push(ev);
    });
  }
  const next = (match) => new Promise((resolve, reject) => {
    const i = events.findIndex(match);
    if (i >= 0) return resolve(events.splice(i, 1)[0]);
    const t = setTimeout(() => reject(new Error('no matching event; have ' + JSON.stringify(events))), guardMs);
    waiters.push({ match, resolve: (ev) => { clearTimeout(t); resolve(ev); } });
  });
  const connected = new Promise((resolve, reject) => { sock.on('connect', resolve); sock.on('connect_error', reject); });
  return { sock, events, next, connected };
}

const is = (name, pred = () => true) => (ev) => ev.name === name && pred(ev.data);

for (const [label, ioA, ioB] of [['socket.io-client 2.5.0', io2, io2], ['socket.io-client 4.8.4', io4, io4], ['2.5.0 and 4.8.4 together', io2, io4]]) {
  test(`chat over ${label}: identify, channel movement, typing, messages, leave`, async () => {
    const alice = await signup();
    const bob = await signup();
    const dave = await signup();
    const a = connect(ioA); const b = connect(ioB); const observer = connect(ioA);
    const elsewhere = connect(ioB); // identified, in another channel
    await Promise.all([a.connected, b.connected, observer.connected, elsewhere.connected]);
    elsewhere.sock.emit('identify', dave.token);
    await elsewhere.next(is('identified'));
    elsewhere.sock.emit('change channel', { id: 1 });
    await elsewhere.next(is('channel movement', (d) => d.channel_id === 1 && d.users.includes(dave.id)));

    a.sock.emit('identify', 'not-a-token');
    await a.next(is('identity failure'));
    a.sock.emit('identify', ''); // keenchat never answered a falsy token
    await a.next(is('identity failure'));
    a.sock.emit('identify', alice.token);
    b.sock.emit('identify', bob.token);
    await a.next(is('identified'));
    await b.next(is('identified'));

    const made = await rest('POST', '/channel?auth=' + alice.token, { title: 'room ' + label, description: 'test' });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const ch = made.body.id;
    await b.next(is('post channel', (d) => d.id === ch));

    a.sock.emit('change channel', { id: ch });
    await b.next(is('channel movement', (d) => d.channel_id === ch && d.users.length === 1 && d.users[0] === alice.id));
    b.sock.emit('change channel', { id: String(ch) }); // ids as strings work too
    const both = await a.next(is('channel movement', (d) => d.channel_id === ch && d.users.length === 2));
    assert.deepEqual(both.data.users, [alice.id, bob.id].sort((x, y) => x - y));

    // Typing: only channel_id and user_id go out; a forged user_id is replaced.
    a.sock.emit('start typing', { channel_id: ch, injected: 'x', user_id: 999 });
    const typing = await b.next(is('start typing'));
    assert.deepEqual(typing.data, { channel_id: ch, user_id: alice.id });

    const posted = await rest('POST', `/message?auth=${alice.token}`, { message_text: 'hello ' + label, channel_id: ch });
    assert.equal(posted.status, 200);
    assert.equal(posted.body.message_body, 'hello ' + label);
    const live = await b.next(is('post message', (d) => d.id === posted.body.id));
    assert.deepEqual(live.data, posted.body);
    assert.equal(live.data.message_text, 'hello ' + label);
    await a.next(is('post message', (d) => d.id === posted.body.id));
    // Typing and posts travel in one ordered stream: a socket outside the channel that has the
    // post would have had the typing before it.
    await elsewhere.next(is('post message', (d) => d.id === posted.body.id));
    assert.ok(!elsewhere.events.some((e) => e.name === 'start typing'), 'typing reached a socket outside the channel');
    const listed = await rest('GET', `/message?channel_id=${ch}`);
    assert.deepEqual(listed.body.map((m) => [m.id, m.message_text, m.user_id]), [[posted.body.id, 'hello ' + label, alice.id]]);

    // Hostile or malformed events (keenchat crashed on each) are ignored; the server lives on.
    for (const [ev, arg] of [['change channel', undefined], ['change channel', null], ['start typing', 5], ['stop typing', 'x'],
      ['change channel', { id: { nested: true } }], ['change channel', { id: 987654321 }], ['identify', { token: 1 }]]) {
      if (arg === undefined) b.sock.emit(ev); else b.sock.emit(ev, arg);
    }
    const carol = await signup();
    await b.next(is('post user', (d) => d.id === carol.id && d.username === carol.username));

    // Alice leaves: Bob sees her stop typing and the channel with him alone.
    a.sock.disconnect();
    await b.next(is('stop typing', (d) => d.user_id === alice.id && d.channel_id === ch));
    await b.next(is('channel movement', (d) => d.channel_id === ch && d.users.length === 1 && d.users[0] === bob.id));

    // The unidentified observer saw none of it.
    assert.deepEqual(observer.events, []);
    b.sock.disconnect(); observer.sock.disconnect(); elsewhere.sock.disconnect();
  });
}

test('chat REST: errors keenchat answered with 200 keep it; the rest are 4xx with JSON', async () => {
  const u = await signup();
  assert.deepEqual((await rest('POST', '/auth', { username: u.username, password: 'wrong' })).body, { error: 'Invalid details.' });
  assert.deepEqual((await rest('POST', '/user', { username: '1bad', password: 'whatever' })).body, { error: 'Invalid username.' });
  assert.deepEqual((await rest('POST', '/message', { message_text: 'x', channel_id: 1 })).body, { error: 'Please pass an auth token.' });
  assert.equal((await rest('POST', '/user', { username: u.username, password: 'another1' })).status, 409);
  assert.equal((await rest('POST', `/message?auth=${u.token}`, { message_text: '', channel_id: 1 })).status, 400);
  assert.equal((await rest('POST', `/message?auth=${u.token}`, { message_text: 'x', channel_id: 424242 })).status, 404);
  assert.equal((await rest('GET', '/channel/424242')).status, 404);
  assert.deepEqual((await rest('GET', '/channel/1')).body, { id: 1, title: 'General', description: 'General discussion.' });
  assert.deepEqual((await rest('GET', `/user?id=${u.id}`)).body, { id: u.id, username: u.username });
  const out = await rest('DELETE', `/auth?auth=${u.token}`);
  assert.equal(out.status, 200);
  assert.deepEqual((await rest('POST', `/message?auth=${u.token}`, { message_text: 'x', channel_id: 1 })).body, { error: 'Please pass an auth token.' });
});
