// The console and the JavaScript client in a real browser (Debian's Chromium, playwright-core),
// against Switchboards of this test's own (the binary scripts/test built, SWITCHBOARD_BIN) on
// a nats-server of its own, so that history outlives a node's restart: sign-in, live figures,
// publishing from the console into a second page's client, and the client's recovery across
// a restart. Every page is also checked for console errors, requests that leave the node, and
// overflow at 375 px; screenshots of each page go to test/screenshots/ on every run.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { nativeClient, publish } from './lib/native.mjs';
import { freePort, get, run, until } from './lib/procs.mjs';

const bin = process.env.SWITCHBOARD_BIN;
const exe = process.env.CHROMIUM ?? '/usr/bin/chromium';
const natsServer = ['/usr/sbin/nats-server', '/usr/bin/nats-server', 'nats-server'].find((p) => spawnSync(p, ['--version']).status === 0);
const missing = [!bin && 'SWITCHBOARD_BIN (scripts/test sets it)', !existsSync(exe) && `${exe} (apt-get install chromium)`,
  !natsServer && 'nats-server (apt-get install nats-server)'].filter(Boolean);
if (missing.length && process.env.CI === 'true') throw new Error('the console test needs, under CI=true: ' + missing.join(', '));
const skip = missing.length ? 'missing: ' + missing.join(', ') : false;

const apiKey = 'console-test-key';
const shots = path.join(import.meta.dirname, 'screenshots');

describe('console and JavaScript client, in Chromium', { skip, timeout: 120000 }, () => {
  const work = skip ? '' : mkdtempSync(path.join(os.tmpdir(), 'sb-console-'));
  let nats; let natsPort; let browser;
  const nodes = [null, null]; const ports = [0, 0];
  const url = (i) => `http://127.0.0.1:${ports[i]}`;
  const startNode = (i) => {
    nodes[i] = run(bin, ['-addr', `127.0.0.1:${ports[i]}`, '-data', path.join(work, `n${i}`), '-log-level', 'warn'], {
      SWITCHBOARD_API_KEY: apiKey, SWITCHBOARD_BROKER: `nats://127.0.0.1:${natsPort}`, SWITCHBOARD_NATS_PREFIX: 'sbconsole',
      SWITCHBOARD_DRAIN_DELAY: '0s', SWITCHBOARD_NATS_HEARTBEAT: '1s',
      // No OAuth client (scripts/test sets one for the streams suite): the broadcast demo signs
      // in with the stand-in, as on a fresh `go run`.
      SWITCHBOARD_STREAMS_CLIENT_ID: null,
    });
    return until(async () => (await get(url(i) + '/readyz')).status === 200, () => `node ${i} ready; its log: ${nodes[i].log()}`);
  };
  // page opens a page that records console errors and any request that leaves node 0.
  const problems = [];
  let outage = false;
  async function page(ctx, width = 1100) {
    const p = await ctx.newPage();
    await p.setViewportSize({ width, height: 900 });
    // Chromium logs a refused sign-in (401), a missing /favicon.ico and, while a node restarts
    // on purpose, the client's refused reconnects itself; anything else is the page's.
    p.on('console', (m) => {
      const t = m.text();
      if (m.type() !== 'error' || /status of 401/.test(t) || (m.location().url ?? '').endsWith('/favicon.ico')) return;
      // (A draining node refuses new connections with 503; a stopped one, at the TCP level.)
      if (outage && /ERR_CONNECTION_REFUSED|response code: 503/.test(t)) return;
      problems.push(`console error: ${t}`);
    });
    p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    p.on('request', (r) => { if (!r.url().startsWith(url(0)) && !r.url().startsWith('data:')) problems.push(`external request: ${r.url()}`); });
    return p;
  }
  async function signedIn(ctx) {
    const p = await page(ctx);
    await p.goto(url(0) + '/console/');
    await p.getByLabel('Console password or API key').fill(apiKey);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.locator('#overview').waitFor();
    return p;
  }

  before(async () => {
    mkdirSync(shots, { recursive: true });
    natsPort = await freePort();
    nats = run(natsServer, ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', path.join(work, 'nats')]);
    await until(() => new Promise((resolve) => {
      const s = net.connect(natsPort, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    }), 'NATS listening');
    ports[0] = await freePort(); ports[1] = await freePort();
    await Promise.all([startNode(0), startNode(1)]);
    browser = await chromium.launch({
      executablePath: exe, headless: true,
      // Loopback ICE candidates, without mDNS names: the WebRTC demo's two pages meet on 127.0.0.1.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'],
    });
  });

  after(async () => {
    await browser?.close();
    for (const n of nodes) n?.proc.kill('SIGINT');
    nats?.proc.kill('SIGTERM');
    await Promise.all([nats?.exited, ...nodes.map((n) => n?.exited)]);
    rmSync(work, { recursive: true, force: true });
    assert.deepEqual(problems, [], 'pages had console errors or made requests off the node');
  });

  test('sign-in: a wrong password is refused, the API key signs in, sign-out signs out', async () => {
    const ctx = await browser.newContext();
    const p = await page(ctx);
    await p.goto(url(0) + '/console/');
    await p.locator('#signin').waitFor();
    assert.equal(await p.locator('nav').isHidden(), true, 'no pages before sign-in');
    await p.screenshot({ path: path.join(shots, 'signin.png') });
    await p.getByLabel('Console password or API key').fill('wrong');
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByText('wrong password').waitFor();
    // The session cookie is HttpOnly and SameSite=Strict; the page cannot read it.
    await p.getByLabel('Console password or API key').fill(apiKey);
    await p.keyboard.press('Enter'); // keyboard alone
    await p.locator('#overview').waitFor();
    assert.match(await p.locator('#mode').textContent(), /signed in/);
    const [cookie] = await ctx.cookies();
    assert.equal(cookie.name, 'sb_console');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(await p.evaluate(() => document.cookie), '');
    // The API refuses a request without the cookie.
    assert.equal((await get(url(0) + '/console/api/channels')).status, 401);
    await p.getByRole('button', { name: 'Sign out' }).click();
    await p.locator('#signin').waitFor();
    await ctx.close();
  });

  test('overview: the figures change, live, when a client connects', async () => {
    const ctx = await browser.newContext();
    const p = await signedIn(ctx);
    const conns = async () => Number((await p.locator('#f-conns').textContent()).replace(/,/g, ''));
    // The page's own feed counts once a sample has been taken since it opened.
    await p.getByRole('cell', { name: 'console' }).first().waitFor();
    const before = await conns();
    const c = nativeClient(url(0));
    await c.opened;
    await c.call('connect', {});
    await c.call('subscribe', { channel: 'console:watch' });
    await p.waitForFunction((n) => Number(document.getElementById('f-conns').textContent.replace(/,/g, '')) > n, before)
      .catch(async (err) => { throw new Error(`connections stayed ${await conns()} (before: ${before}): ${err.message}`); });
    await p.getByRole('cell', { name: 'native' }).first().waitFor();
    // Both nodes of this test share a NATS: the overview counts the cluster's nodes.
    await p.waitForFunction(() => document.getElementById('f-nodes').textContent === '2');
    await p.getByRole('cell', { name: 'websocket' }).first().waitFor();
    await p.screenshot({ path: path.join(shots, 'overview.png'), fullPage: true });
    c.ws.close();
    await c.closed;
    await p.waitForFunction((n) => Number(document.getElementById('f-conns').textContent.replace(/,/g, '')) <= n, before)
      .catch(async (err) => { throw new Error(`connections stayed ${await conns()} (before: ${before}) ${await p.locator('#conn-table').textContent()}: ${err.message}`); });
    // Readable at 375 px: nothing wider than the screen.
    const narrow = await page(ctx, 375);
    await narrow.goto(url(0) + '/console/#/overview');
    await narrow.locator('#overview').waitFor();
    assert.ok(await narrow.evaluate(() => document.documentElement.scrollWidth <= 375), 'the overview overflows 375 px');
    await narrow.screenshot({ path: path.join(shots, 'overview-375.png'), fullPage: true });
    for (const at of ['/console/#/channels/news', '/console/#/app/chat', '/console/#/app/counter', '/console/#/app/streams', '/console/#/app/signal',
      '/console/demo/chat.html', '/console/demo/counter.html', '/console/demo/streams.html', '/console/demo/webrtc.html']) {
      await narrow.goto(url(0) + at);
      if (at.includes('/app/')) await narrow.getByText(/^live · updated/).waitFor(); // rendered
      if (at.includes('/channels/')) await narrow.getByText(/subscribed at offset/).waitFor();
      assert.ok(await narrow.evaluate(() => document.documentElement.scrollWidth <= 375), `${at} overflows 375 px`);
    }
    await ctx.close();
  });

  test('channels: publish from the console, and a second page\'s client receives it', async () => {
    const ctx = await browser.newContext();
    const reader = await page(ctx);
    await reader.goto(url(0) + '/healthz');
    await reader.evaluate(async (base) => {
      const { Client } = await import(base + '/v1/client.js');
      window.got = [];
      const client = new Client(base);
      await client.subscribe('console-demo', { publication: (p) => window.got.push(p.data) }).ready;
    }, url(0));
    const p = await signedIn(ctx);
    await p.goto(url(0) + '/console/#/channels');
    await p.getByLabel('Search or open a channel').fill('console-demo');
    await p.getByRole('link', { name: 'console-demo' }).click(); // the reader's subscription lists it
    await p.getByText(/subscribed at offset/).waitFor();
    await p.getByLabel('Publish (JSON)').fill('{"text":"from the console"}');
    await p.getByRole('button', { name: 'Publish' }).click();
    await p.getByText(/published at offset \d+/).waitFor();
    await p.getByText('{"text":"from the console"}').first().waitFor(); // the console's own tail
    await reader.waitForFunction(() => window.got.some((d) => d.text === 'from the console'));
    // Not JSON: refused on the page, nothing sent.
    await p.getByLabel('Publish (JSON)').fill('{oops');
    await p.getByRole('button', { name: 'Publish' }).click();
    await p.getByText(/not JSON/).waitFor();
    await p.screenshot({ path: path.join(shots, 'channels.png'), fullPage: true });
    await ctx.close();
  });

  test('app pages: each app shows its live state, and the counter page moves with a click', async () => {
    const ctx = await browser.newContext();
    const p = await signedIn(ctx);
    // The page opens on the link's click handler: until it has, the page before still shows
    // its title and its "live" line, so wait for the title to change before reading the line.
    const open = async (title) => {
      await p.getByRole('link', { name: title, exact: true }).click();
      await p.waitForFunction((t) => document.querySelector('#app-title')?.textContent === t, title);
      await p.getByText(/^live · updated/).waitFor();
    };
    for (const [name, title] of [['chat', 'Chat'], ['counter', 'Counter'], ['streams', 'Streams'], ['signal', 'Signaling']]) {
      await open(title);
      assert.equal(await p.locator('#app-title').textContent(), title);
      await p.screenshot({ path: path.join(shots, `app-${name}.png`), fullPage: true });
    }
    // A click through frust's HTTP API shows on the counter page without a reload.
    await open('Counter');
    const total = async () => Number((await p.locator('dt:text("Clicks, total") + dd').textContent()).replace(/,/g, ''));
    const before = await total();
    const sock = (await import('sio4')).default(url(0), { path: '/api/socket.io', transports: ['websocket'], forceNew: true });
    await new Promise((resolve) => sock.on('stats', resolve));
    sock.emit('click', { user: 'console-test', comment: 'hello' });
    await p.waitForFunction((n) => Number(document.querySelector('#app-body dd').textContent.replace(/,/g, '')) > n, before);
    sock.close();
    await ctx.close();
  });

  test('demos: two chat windows talk; two counter windows see each other\'s clicks; the served socket.io client is current', async () => {
    const served = await (await fetch(url(0) + '/console/vendor/socket.io.esm.min.js')).text();
    assert.equal(served, readFileSync(path.join(import.meta.dirname, '../node_modules/sio4/dist/socket.io.esm.min.js'), 'utf8'),
      'internal/apps/console/web/vendor/socket.io.esm.min.js differs from the locked socket.io-client: copy it again');
    const ctx = await browser.newContext();
    const [ann, bob] = [await page(ctx), await page(ctx)];
    for (const [p, who] of [[ann, 'ann'], [bob, 'bob']]) {
      await p.goto(url(0) + '/console/demo/chat.html');
      await p.getByLabel('Username').fill(who + '-demo');
      await p.getByLabel('Password').fill('secret-' + who);
      await p.getByRole('button', { name: 'Join' }).click();
      await p.getByText('signed in as ' + who + '-demo').waitFor();
    }
    await ann.getByText(/here now: .*bob-demo/).waitFor();
    await bob.getByLabel('Message').fill('hello from bob');
    await bob.getByRole('button', { name: 'Send' }).click();
    await ann.getByText('bob-demo: hello from bob').waitFor();
    await ann.screenshot({ path: path.join(shots, 'demo-chat.png'), fullPage: true });
    const [one, two] = [await page(ctx), await page(ctx)];
    for (const p of [one, two]) {
      await p.goto(url(0) + '/console/demo/counter.html');
      await p.waitForFunction(() => /\d/.test(document.getElementById('total').textContent));
    }
    const before = Number((await two.locator('#total').textContent()).replace(/,/g, ''));
    await one.getByLabel('Comment (optional, 75 characters)').fill('demo click');
    await one.getByRole('button', { name: 'Click' }).click();
    await two.getByText('guest: demo click').waitFor();
    assert.equal(Number((await two.locator('#total').textContent()).replace(/,/g, '')), before + 1);
    await two.screenshot({ path: path.join(shots, 'demo-counter.png'), fullPage: true });
    // Broadcast: one window streams, another watches.
    const [send, view] = [await page(ctx), await page(ctx)];
    await send.goto(url(0) + '/console/demo/streams.html');
    await send.getByRole('button', { name: 'Sign in and start a stream' }).click();
    await send.getByText('streaming', { exact: true }).waitFor();
    const id = await send.locator('#stream-id').textContent();
    await view.goto(url(0) + '/console/demo/streams.html');
    await view.locator(`[data-watch="${id}"]`).click();
    await view.getByText(/^reset/).waitFor(); // a viewer that joins gets the latest reset first
    await send.getByRole('button', { name: "Send move R'" }).click();
    await view.getByText(/^move {"move":"R'"}/).waitFor();
    await view.screenshot({ path: path.join(shots, 'demo-streams.png'), fullPage: true });
    // WebRTC: two pages open a DataChannel, signaled through rondevu G4, and talk over it.
    const room = 'room-' + Date.now();
    const [host, guest] = [await page(ctx), await page(ctx)];
    for (const p of [host, guest]) {
      await p.goto(url(0) + '/console/demo/webrtc.html');
      await p.getByLabel(/^Room/).fill(room);
    }
    await host.getByRole('button', { name: 'Open the room (offer)' }).click();
    await host.getByText(/waiting for an answer/).waitFor();
    await guest.getByRole('button', { name: 'Join the room (answer)' }).click();
    for (const p of [host, guest]) await p.getByText('connected, peer to peer').waitFor();
    await guest.getByLabel('Message (peer to peer)').fill('hello over the DataChannel');
    await guest.getByRole('button', { name: 'Send' }).click();
    await host.getByText('them: hello over the DataChannel').waitFor();
    await host.screenshot({ path: path.join(shots, 'demo-webrtc.png'), fullPage: true });
    await ctx.close();
  });

  for (const transport of ['websocket', 'sse']) test(`client.js over ${transport}: across a node restart, the subscription recovers exactly what it missed`, async () => {
    const ctx = await browser.newContext();
    const p = await page(ctx);
    await p.goto(url(0) + '/healthz');
    const ch = 'recover-' + transport;
    await p.evaluate(async ([base, transport, ch]) => {
      const { Client } = await import(base + '/v1/client.js');
      window.pubs = []; window.subs = []; window.states = [];
      const client = new Client(base, { minDelay: 200, maxDelay: 2000, transport });
      client.on('state', (s) => window.states.push(s.state));

      await client.subscribe(ch, {
        publication: (pub) => window.pubs.push(pub.data.n),
        subscribed: (s) => window.subs.push(s.recovered),
      }).ready;
    }, [url(0), transport, ch]);
    for (const n of [1, 2]) await publish(url(0), apiKey, ch, { n });
    await p.waitForFunction(() => window.pubs.length === 2);
    outage = true;
    nodes[0].proc.kill('SIGTERM');
    const { code } = await nodes[0].exited;
    assert.equal(code, 0, 'node 0 drained cleanly');
    // Published while the client's node is down, through the other node.
    for (const n of [3, 4, 5]) await publish(url(1), apiKey, ch, { n });
    await startNode(0);
    await p.waitForFunction(() => window.subs.length === 2, null, { timeout: 30000 });
    outage = false;
    await publish(url(0), apiKey, ch, { n: 6 });
    await p.waitForFunction(() => window.pubs.length >= 6)
      .catch(async (err) => { throw new Error(`${JSON.stringify(await p.evaluate(() => [window.pubs, window.subs, window.states]))}: ${err.message}`); });
    const { pubs, subs } = await p.evaluate(() => ({ pubs: window.pubs, subs: window.subs }));
    assert.deepEqual(subs, [false, true], 'the resubscribe recovered');
    assert.deepEqual(pubs, [1, 2, 3, 4, 5, 6], 'every publication exactly once, in order');
    await ctx.close();
  });
});
