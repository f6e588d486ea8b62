// Black-box test of the api.twizzle.net-compatible streams with the `ws` client, playing the
// original web client's messages (cubing 0.15.3's move, orientation and reset) against a
// Switchboard started by scripts/test. Sign-in goes through a stand-in WCA provider this
// script runs on SWITCHBOARD_TEST_OAUTH_PORT, where scripts/test pointed the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { standInWCA } from './lib/wca.mjs';

const base = process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080';
const port = Number(process.env.SWITCHBOARD_TEST_OAUTH_PORT);
const secret = process.env.SWITCHBOARD_STREAMS_CLIENT_SECRET;
const guardMs = 10000; // bounds every wait; not a speed assertion

// The stand-in WCA (test/lib/wca.mjs). Under the cluster test the nodes use the one that test
// runs, and SWITCHBOARD_TEST_OAUTH_PORT is 0.
let provider;
before(async () => { provider = await standInWCA(port, secret); });
// The server keeps its connection to the provider alive: close it, or this process waits.
after(() => { provider.closeAllConnections(); provider.close(); });

// signIn walks the browser's flow: start (state cookie) → provider → callback → claim.
async function signIn() {
  const start = await fetch(base + '/v0/auth/wca/start', { redirect: 'manual' });
  assert.equal(start.status, 302);
  const cookie = start.headers.get('set-cookie').split(';')[0];
  const state = new URL(start.headers.get('location')).searchParams.get('state');
  const cb = await fetch(`${base}/v0/auth/wca/oauth_callback?code=good&state=${state}`, { redirect: 'manual', headers: { cookie } });
  assert.equal(cb.status, 302);
  const claimToken = new URL(cb.headers.get('location')).searchParams.get('claimToken');
  assert.match(claimToken, /^claim_token_[0-9a-f]{32}$/);
  const claim = await fetch(`${base}/v0/claim?claimToken=${claimToken}`, { method: 'POST' });
  assert.equal(claim.status, 200);
  const session = await claim.json();
  assert.match(session.twizzleAccessToken, /^twizzle_access_token_[0-9a-f]{32}$/);
  assert.deepEqual(session.userInfo, { twizzleUserID: session.userInfo.twizzleUserID, wcaID: '2099TEST01', name: 'Black Box (2099TEST01)' });
  return session;
}

function open(streamID, token) {
  const q = token ? `?twizzleAccessToken=${token}` : '';
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v0/streams/${streamID}/socket${q}`);
  const got = [];
  const waiters = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    const w = waiters.shift();
    if (w) w(msg); else got.push(msg);
  });
  const next = () => new Promise((resolve, reject) => {
    if (got.length) return resolve(got.shift());
    const t = setTimeout(() => reject(new Error('no message')), guardMs);
    waiters.push((m) => { clearTimeout(t); resolve(m); });
  });
  const opened = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  return { ws, next, opened, send: (v) => ws.send(JSON.stringify(v)) };
}

// live sends markers from one socket until each of the others has seen one (a socket is
// open before its subscription is in place), then drains them.
async function live(from, ...to) {
  const timer = setInterval(() => from.send({ event: 'sync' }), 10);
  try {
    for (const s of to) assert.equal((await s.next()).event, 'sync');
  } finally { clearInterval(timer); }
  from.send({ event: 'sync-end' });
  for (const s of to) while ((await s.next()).event !== 'sync-end');
}

const move = { event: 'move', data: { latestMove: { family: 'R', amount: 1, type: 'blockMove' }, timeStamp: 48213, binaryState: '00 00 00 00 00 00 00 00 00 10 00' } };
const orientation = { event: 'orientation', data: { quaternion: { x: 0.1234, y: -0.5, z: 0, w: 0.8571 }, timeStamp: 48213 } };
const reset = { event: 'reset', data: { trackingOrientation: true } };

test('sign in, create a stream, stream to viewers, late joiner gets the latest', async () => {
  const { twizzleAccessToken: token, userInfo } = await signIn();
  const created = await fetch(`${base}/v0/streams?twizzleAccessToken=${token}`, { method: 'POST' });
  assert.equal(created.status, 200);
  const { stream } = await created.json();
  assert.match(stream.streamID, /^twizzle_stream_[0-9a-f]{16}$/);
  assert.deepEqual(stream.senders, [userInfo]);
  const list = await (await fetch(base + '/v0/streams')).json();
  assert.ok(list.streams.some((s) => s.streamID === stream.streamID && s.senders[0].name === 'Black Box (2099TEST01)'));

  const sender = open(stream.streamID, token);
  const viewers = [open(stream.streamID), open(stream.streamID), open(stream.streamID)];
  await Promise.all([sender.opened, ...viewers.map((v) => v.opened)]);
  await live(sender, ...viewers);
  for (const m of [reset, orientation, move]) sender.send(m);
  for (const v of viewers) {
    for (const want of [reset, orientation, move]) {
      const got = await v.next();
      assert.equal(got.event, want.event);
      assert.deepEqual(got.data, want.data);
      assert.equal(typeof got.timestampUnixMS, 'number');
    }
  }
  const late = open(stream.streamID);
  for (const kind of ['reset', 'orientation', 'move']) assert.equal((await late.next()).event, kind);

  // A viewer's token of nobody, an unknown stream: plain HTTP refusals of the upgrade.
  const bad = new WebSocket(`${base.replace(/^http/, 'ws')}/v0/streams/${stream.streamID}/socket?twizzleAccessToken=twizzle_access_token_nope`);
  const status = await new Promise((resolve) => bad.once('unexpected-response', (_, res) => resolve(res.statusCode)));
  assert.equal(status, 401);
  const unknown = new WebSocket(`${base.replace(/^http/, 'ws')}/v0/streams/twizzle_stream_0000000000000000/socket`);
  assert.equal(await new Promise((resolve) => unknown.once('unexpected-response', (_, res) => resolve(res.statusCode))), 404);
  for (const s of [bad, unknown]) { s.on('error', () => {}); s.terminate(); } // never opened: terminate reports an error
  for (const s of [sender, late, ...viewers]) s.ws.close();
});

test('what is refused', async () => {
  assert.equal((await fetch(base + '/v0/streams', { method: 'POST' })).status, 401);
  assert.equal((await fetch(base + '/v0/streams?twizzleAccessToken=twizzle_access_token_x', { method: 'POST' })).status, 401);
  assert.equal((await fetch(base + '/v0/claim?claimToken=claim_token_0', { method: 'POST' })).status, 401);
  const live = await (await fetch(base + '/v0/infra/liveness_check')).json();
  assert.equal(typeof live.uptimeSeconds, 'number');
});

// The twizzle.net web app builds the WCA authorize link itself and sends no state: with the
// default config that sign-in works, even with a state cookie left by an unfinished /start.
// A used claim link answers 401 with an empty body, so the app's res.json() throws and it
// keeps the session it has.
test('sign-in as the twizzle web app does it (no state), and a used claim link', async () => {
  for (const leftover of [false, true]) {
    const headers = {};
    if (leftover) {
      const start = await fetch(base + '/v0/auth/wca/start', { redirect: 'manual' });
      headers.cookie = start.headers.get('set-cookie').split(';')[0];
    }
    const cb = await fetch(base + '/v0/auth/wca/oauth_callback?code=good', { redirect: 'manual', headers });
    assert.equal(cb.status, 302, `state-less callback (leftover cookie: ${leftover})`);
    const claimToken = new URL(cb.headers.get('location')).searchParams.get('claimToken');
    const claim = await fetch(`${base}/v0/claim?claimToken=${claimToken}`, { method: 'POST' });
    assert.equal(claim.status, 200);
    const session = await claim.json();
    assert.match(session.twizzleAccessToken, /^twizzle_access_token_/);
    const again = await fetch(`${base}/v0/claim?claimToken=${claimToken}`, { method: 'POST' });
    assert.equal(again.status, 401);
    await assert.rejects(again.json(), 'the web app reads the refusal as JSON and must fail to');
  }
  // A callback that carries a state is still checked against the browser's.
  const forged = await fetch(base + '/v0/auth/wca/oauth_callback?code=good&state=forged', { redirect: 'manual' });
  assert.equal(forged.status, 403);
});
