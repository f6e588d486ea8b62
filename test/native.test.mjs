// Black-box test of the native API with the real `ws` client and Node's fetch, against a
// Switchboard started by scripts/test (SWITCHBOARD_URL, SWITCHBOARD_API_KEY).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

const base = process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080';
const apiKey = process.env.SWITCHBOARD_API_KEY ?? '';
const wsURL = base.replace(/^http/, 'ws') + '/v1/ws';
const guardMs = 10000; // bounds every wait; not a speed assertion

// client opens a connection and yields every server message, split out of batched frames.
function client() {
  const ws = new WebSocket(wsURL);
  const queue = [];
  const waiters = [];
  let nextId = 0;
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) {
      const msg = JSON.parse(line);
      if (msg.push === 'ping') { ws.send('{"method":"pong"}'); continue; }
      const w = waiters.findIndex((f) => f.match(msg));
      if (w >= 0) waiters.splice(w, 1)[0].resolve(msg); else queue.push(msg);
    }
  });
  const next = (match) => new Promise((resolve, reject) => {
    const i = queue.findIndex(match);
    if (i >= 0) return resolve(queue.splice(i, 1)[0]);
    const t = setTimeout(() => reject(new Error('no matching message')), guardMs);
    waiters.push({ match, resolve: (m) => { clearTimeout(t); resolve(m); } });
  });
  const call = async (method, params) => {
    const id = ++nextId;
    ws.send(JSON.stringify({ id, method, params }));
    return next((m) => m.id === id);
  };
  const opened = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return { ws, call, next, opened, closed };
}

async function publish(channel, data) {
  const res = await fetch(base + '/v1/api/publish', {
    method: 'POST', headers: { 'X-API-Key': apiKey, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

test('two ws clients: connect, subscribe, publish, presence, history', async () => {
  const a = client(); const b = client();
  await Promise.all([a.opened, b.opened]);
  assert.ok((await a.call('connect', {})).result.client);
  assert.ok((await b.call('connect', {})).result.client);
  const sub = await a.call('subscribe', { channel: 'bb:room' });
  assert.equal(sub.result.channel, 'bb:room');
  await b.call('subscribe', { channel: 'bb:room' });
  const pres = await a.call('presence_stats', { channel: 'bb:room' });
  assert.equal(pres.result.num_clients, 2);

  const reply = await b.call('publish', { channel: 'bb:room', data: { text: 'hi ✓' } });
  assert.equal(reply.result.offset, 1);
  for (const c of [a, b]) {
    const pub = await c.next((m) => m.push === 'pub');
    assert.deepEqual(pub.data, { text: 'hi ✓' });
    assert.equal(pub.offset, 1);
  }
  const h = await a.call('history', { channel: 'bb:room' });
  assert.equal(h.result.publications.length, 1);

  const bad = await a.call('subscribe', { channel: 'no spaces' });
  assert.equal(bad.error.code, 107);
  a.ws.close(); b.ws.close();
});

test('reconnect recovers missed publications', async () => {
  const c = client(); await c.opened;
  await c.call('connect', {});
  const first = (await c.call('subscribe', { channel: 'bb:recover' })).result;
  c.ws.close(); await c.closed;
  await publish('bb:recover', 1);
  await publish('bb:recover', 2);
  const d = client(); await d.opened;
  await d.call('connect', {});
  const res = (await d.call('subscribe', { channel: 'bb:recover', since: { offset: first.offset, epoch: first.epoch } })).result;
  assert.equal(res.recovered, true);
  assert.deepEqual(res.publications.map((p) => p.data), [1, 2]);
  d.ws.close();
});

test('server-sent events resume with Last-Event-ID', async () => {
  const ctrl = new AbortController();
  const res = await fetch(base + '/v1/sse?channel=bb:sse', { signal: ctrl.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/event-stream/);
  const reader = res.body.getReader();
  let buf = '';
  const nextEvent = async () => {
    for (;;) {
      const i = buf.indexOf('\n\n');
      if (i >= 0) {
        const raw = buf.slice(0, i); buf = buf.slice(i + 2);
        const ev = {};
        for (const line of raw.split('\n')) {
          const [k, ...v] = line.split(': ');
          ev[k] = (ev[k] ? ev[k] + '\n' : '') + v.join(': ');
        }
        if (ev.event) return ev;
        continue;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended');
      buf += new TextDecoder().decode(value);
    }
  };
  assert.equal((await nextEvent()).event, 'subscribed');
  await publish('bb:sse', 'one');
  let ev;
  do { ev = await nextEvent(); } while (ev.event !== 'pub');
  const lastId = ev.id;
  ctrl.abort();
  await publish('bb:sse', 'two');

  const again = await fetch(base + '/v1/sse?channel=bb:sse', { headers: { 'Last-Event-ID': lastId } });
  const text = await readUntil(again, '"data":"two"');
  assert.match(text, /"recovered":true/);
});

async function readUntil(res, needle) {
  const reader = res.body.getReader();
  let text = '';
  const deadline = Date.now() + guardMs;
  while (!text.includes(needle)) {
    if (Date.now() > deadline) throw new Error('did not see ' + needle);
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  await reader.cancel();
  return text;
}

test('limits answer with clear errors', async () => {
  const res = await fetch(base + '/v1/api/publish', { method: 'POST', headers: { 'X-API-Key': 'wrong' }, body: '{}' });
  assert.equal(res.status, 401);
  assert.ok((await res.json()).error);
  const c = client(); await c.opened;
  c.ws.send('{"id":1,"method":"subscribe","params":{"channel":"x"}}');
  const closed = await c.closed;
  assert.equal(closed.code, 3501);
});
