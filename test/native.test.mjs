// Black-box test of the native API with the real `ws` client and Node's fetch, against a
// Switchboard started by scripts/test (SWITCHBOARD_URL, SWITCHBOARD_API_KEY).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guardMs, nativeClient, publish as publishTo } from './lib/native.mjs';

const base = process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080';
const apiKey = process.env.SWITCHBOARD_API_KEY ?? '';

const client = () => nativeClient(base);
const publish = (channel, data) => publishTo(base, apiKey, channel, data);

test('two ws clients: connect, subscribe, publish, presence, history', async () => {
  const a = client(); const b = client();
  await Promise.all([a.opened, b.opened]);
  assert.ok((await a.call('connect', {})).result.client);
  assert.ok((await b.call('connect', {})).result.client);
  const sub = await a.call('subscribe', { channel: 'bb-room' });
  assert.equal(sub.result.channel, 'bb-room');
  await b.call('subscribe', { channel: 'bb-room' });
  const pres = await a.call('presence_stats', { channel: 'bb-room' });
  assert.equal(pres.result.num_clients, 2);

  const reply = await b.call('publish', { channel: 'bb-room', data: { text: 'hi ✓' } });
  assert.equal(reply.result.offset, 1);
  for (const c of [a, b]) {
    const pub = await c.next((m) => m.push === 'pub');
    assert.deepEqual(pub.data, { text: 'hi ✓' });
    assert.equal(pub.offset, 1);
  }
  const h = await a.call('history', { channel: 'bb-room' });
  assert.equal(h.result.publications.length, 1);

  const bad = await a.call('subscribe', { channel: 'no spaces' });
  assert.equal(bad.error.code, 107);
  a.ws.close(); b.ws.close();
});

test('reconnect recovers missed publications', async () => {
  const c = client(); await c.opened;
  await c.call('connect', {});
  const first = (await c.call('subscribe', { channel: 'bb-recover' })).result;
  c.ws.close(); await c.closed;
  await publish('bb-recover', 1);
  await publish('bb-recover', 2);
  const d = client(); await d.opened;
  await d.call('connect', {});
  const res = (await d.call('subscribe', { channel: 'bb-recover', since: { offset: first.offset, epoch: first.epoch } })).result;
  assert.equal(res.recovered, true);
  assert.deepEqual(res.publications.map((p) => p.data), [1, 2]);
  d.ws.close();
});

test('server-sent events resume with Last-Event-ID', async () => {
  const ctrl = new AbortController();
  const res = await fetch(base + '/v1/sse?channel=bb-sse', { signal: ctrl.signal });
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
  await publish('bb-sse', 'one');
  let ev;
  do { ev = await nextEvent(); } while (ev.event !== 'pub');
  const lastId = ev.id;
  ctrl.abort();
  await publish('bb-sse', 'two');

  const again = await fetch(base + '/v1/sse?channel=bb-sse', { headers: { 'Last-Event-ID': lastId } });
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
