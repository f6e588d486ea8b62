// Real-browser test: Debian's Chromium, driven by playwright-core, against a Switchboard
// started by scripts/test (whose config ends SSE streams after 2 s, so EventSource's own
// reconnect can be watched). Proves what only a browser can: EventSource resends
// Last-Event-ID by itself and the server recovers exactly what was missed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080';
const apiKey = process.env.SWITCHBOARD_API_KEY ?? '';
const exe = process.env.CHROMIUM ?? '/usr/bin/chromium';
const missing = !existsSync(exe);
if (missing && process.env.CI === 'true') {
  throw new Error(`${exe} is required under CI=true (apt-get install chromium)`);
}
const skip = missing ? `${exe} not found: install Debian's chromium to run the browser tests` : false;

async function publish(channel, data) {
  const res = await fetch(base + '/v1/api/publish', {
    method: 'POST', headers: { 'X-API-Key': apiKey }, body: JSON.stringify({ channel, data }),
  });
  assert.equal(res.status, 200, await res.clone().text());
}

async function withPage(fn) {
  const browser = await chromium.launch({
    executablePath: exe, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(base + '/healthz'); // same origin as the API
    await fn(page);
  } finally {
    await browser.close();
  }
}

test('EventSource reconnects with Last-Event-ID and recovers what it missed', { skip, timeout: 60000 }, async () => {
  await withPage(async (page) => {
    await page.evaluate((url) => {
      window.events = [];
      window.errors = 0;
      const es = new EventSource(url);
      for (const type of ['subscribed', 'pub']) {
        es.addEventListener(type, (e) => window.events.push({ type, id: e.lastEventId, data: JSON.parse(e.data) }));
      }
      es.onerror = () => { window.errors++; };
    }, base + '/v1/sse?channel=bb-browser');
    await page.waitForFunction(() => window.events.some((e) => e.type === 'subscribed'));
    await publish('bb-browser', 'one');
    await page.waitForFunction(() => window.events.some((e) => e.type === 'pub'));
    // The server ends the stream after sse_max_lifetime; EventSource reports it and waits
    // before reconnecting. Publish while it is away.
    await page.waitForFunction(() => window.errors > 0, null, { timeout: 20000 });
    const beforeReconnect = await page.evaluate(() => window.events.filter((e) => e.type === 'subscribed').length);
    await publish('bb-browser', 'two');
    await page.waitForFunction(() => window.events.filter((e) => e.type === 'pub').length >= 2, null, { timeout: 20000 });

    const events = await page.evaluate(() => window.events);
    const subs = events.filter((e) => e.type === 'subscribed');
    const pubs = events.filter((e) => e.type === 'pub');
    assert.equal(beforeReconnect, 1, 'the reconnect came before the publication made while away');
    assert.ok(subs.length >= 2, 'EventSource reconnected');
    assert.equal(subs[1].data.recovered, true, 'the reconnect recovered: ' + JSON.stringify(subs[1]));
    assert.deepEqual(pubs.map((p) => p.data.data), ['one', 'two'], 'each publication exactly once, in order');
    const [epoch, offset] = pubs[1].id.split(':');
    assert.equal(epoch, subs[0].data.epoch);
    assert.equal(Number(offset), pubs[0].data.offset + 1);
  });
});

test('a page talks the WebSocket protocol', { skip, timeout: 30000 }, async () => {
  await withPage(async (page) => {
    const got = await page.evaluate((url) => new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const send = (o) => ws.send(JSON.stringify(o));
      ws.onopen = () => {
        send({ id: 1, method: 'connect', params: {} });
        send({ id: 2, method: 'subscribe', params: { channel: 'bb-page' } });
        send({ id: 3, method: 'publish', params: { channel: 'bb-page', data: { from: 'page' } } });
      };
      ws.onmessage = (e) => {
        for (const line of e.data.split('\n')) {
          const m = JSON.parse(line);
          if (m.error) reject(new Error(JSON.stringify(m.error)));
          if (m.push === 'pub') { ws.close(); resolve(m); }
        }
      };
      ws.onerror = () => reject(new Error('websocket error'));
    }), base.replace(/^http/, 'ws') + '/v1/ws');
    assert.deepEqual(got.data, { from: 'page' });
    assert.equal(got.channel, 'bb-page');
  });
});
