// A cluster as deploy/ describes it: three Switchboard nodes (deploy/node.json) on one
// PostgreSQL schema and a NATS server with JetStream that this test runs itself (so it can
// restart it), behind HAProxy (deploy/haproxy.cfg).
//
//  1. Every black-box suite (native, chat, counter, streams, signaling, socket.io) runs again
//     through the balancer: its HTTP requests and WebSockets spread over the three nodes.
//  2. Clients pinned to different nodes: a post on one reaches the others, presence, typing,
//     channel lists and online users are cluster-wide, a stream's sender and viewers sit on
//     different nodes, and its end reaches them all.
//  3. kill -9 of a node under traffic: every client reconnects through the balancer, native
//     clients recover (recovered: true, every publication exactly once), counters hold every
//     acknowledged click and chat every acknowledged message.
//  4. NATS restarts: /readyz says so meanwhile, publishing fails with an error, and afterwards
//     the nodes are back by themselves with the history intact.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import io2 from 'sio2';
import io4 from 'sio4';
import WebSocket from 'ws';
import { nativeClient, publish } from './lib/native.mjs';
import { freePort, get, run, until } from './lib/procs.mjs';
import { standInWCA } from './lib/wca.mjs';

const bin = process.env.SWITCHBOARD_BIN;
const apiKey = process.env.SWITCHBOARD_API_KEY || 'cluster-key';
const pgURL = process.env.SWITCHBOARD_TEST_POSTGRES || 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable';
const findBin = (names) => names.find((p) => spawnSync(p, ['--version']).status === 0);
const haproxy = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find((p) => spawnSync(p, ['-v']).status === 0);
const natsServer = findBin(['/usr/sbin/nats-server', '/usr/bin/nats-server', 'nats-server']);
const psql = findBin(['psql']);
const pgUp = psql && spawnSync(psql, [pgURL, '-c', 'select 1']).status === 0;

let skip = false;
const missing = [!bin && 'SWITCHBOARD_BIN (scripts/test sets it)', !haproxy && 'HAProxy (apt-get install haproxy)',
  !natsServer && 'nats-server (apt-get install nats-server)', !pgUp && `PostgreSQL at ${pgURL} (and psql)`].filter(Boolean);
if (missing.length) {
  if (process.env.CI === 'true') throw new Error('the cluster test needs, under CI=true: ' + missing.join(', '));
  skip = 'missing: ' + missing.join(', ');
}

const sql = (q) => {
  const r = spawnSync(psql, [pgURL, '-v', 'ON_ERROR_STOP=1', '-c', q]);
  if (r.status !== 0) throw new Error(`psql ${q}: ${r.stderr}`);
};

describe('cluster: three nodes on NATS and PostgreSQL behind HAProxy', { skip }, () => {
  const work = skip ? '' : mkdtempSync(path.join(os.tmpdir(), 'sb-cluster-'));
  const schema = 'sbcluster_' + crypto.randomBytes(5).toString('hex');
  const c = { nodes: [], ports: [] };
  let nats; let natsPort; let lb; let base; let provider; let oauthPort; const secret = 'cluster-secret';
  const nodeURL = (i) => `http://127.0.0.1:${c.ports[i]}`;
  const startNATS = () => run(natsServer, ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', path.join(work, 'nats')]);
  const natsUp = () => new Promise((resolve) => {
    const sock = net.connect(natsPort, '127.0.0.1', () => { sock.destroy(); resolve(true); });
    sock.on('error', () => resolve(false));
  });

  before(async () => {
    sql(`CREATE SCHEMA ${schema}`);
    natsPort = await freePort();
    nats = startNATS();
    await until(natsUp, 'NATS listening');
    oauthPort = await freePort();
    provider = await standInWCA(oauthPort, secret);
    const store = `${pgURL}&search_path=${schema}`;
    for (let i = 0; i < 3; i++) c.ports.push(await freePort());
    c.nodes = c.ports.map((port, i) => run(bin, ['-config', 'deploy/node.json'], {
      SWITCHBOARD_ADDR: `127.0.0.1:${port}`, SWITCHBOARD_DATA: path.join(work, `n${i}`),
      SWITCHBOARD_STORE: store, SWITCHBOARD_BROKER: `nats://127.0.0.1:${natsPort}`,
      SWITCHBOARD_NATS_PREFIX: schema, SWITCHBOARD_NATS_HEARTBEAT: '1s',
      SWITCHBOARD_API_KEY: apiKey, SWITCHBOARD_LOG_JSON: 'false', SWITCHBOARD_LOG_LEVEL: 'warn',
      SWITCHBOARD_DRAIN_DELAY: '1s', SWITCHBOARD_SSE_MAX_LIFETIME: '2s', SWITCHBOARD_CHAT_LOGIN_RATE: '200',
      SWITCHBOARD_STREAMS_STREAM_TIMEOUT: '3s',
      SWITCHBOARD_STREAMS_AUTHORIZE_URL: `http://127.0.0.1:${oauthPort}/oauth/authorize`,
      SWITCHBOARD_STREAMS_TOKEN_URL: `http://127.0.0.1:${oauthPort}/oauth/token`,
      SWITCHBOARD_STREAMS_USERINFO_URL: `http://127.0.0.1:${oauthPort}/api/v0/me`,
      SWITCHBOARD_STREAMS_CLIENT_ID: 'cluster-client', SWITCHBOARD_STREAMS_CLIENT_SECRET: secret,
      SWITCHBOARD_STREAMS_CLIENT_URL: 'http://app.test/stream/',
    }));
    const front = await freePort();
    lb = run(haproxy, ['-db', '-f', 'deploy/haproxy.cfg'], {
      SB_LISTEN: `127.0.0.1:${front}`, SB_NODE1: nodeURL(0).slice(7), SB_NODE2: nodeURL(1).slice(7), SB_NODE3: nodeURL(2).slice(7),
    });
    base = `http://127.0.0.1:${front}`;
    for (let i = 0; i < 3; i++) {
      await until(async () => (await get(nodeURL(i) + '/readyz')).status === 200, () => `node ${i} ready; its log: ${c.nodes[i].log()}`);
    }
    await until(async () => (await get(base + '/readyz')).status === 200, 'HAProxy forwards');
  });

  after(async () => {
    provider?.closeAllConnections(); provider?.close();
    lb?.proc.kill('SIGTERM');
    for (const n of c.nodes) n.proc.kill('SIGINT');
    nats?.proc.kill('SIGTERM');
    await Promise.all([lb?.exited, nats?.exited, ...c.nodes.map((n) => n.exited)]);
    try { sql(`DROP SCHEMA ${schema} CASCADE`); } catch { /* the server may be gone */ }
    rmSync(work, { recursive: true, force: true });
  });

  test('every black-box suite, through the balancer', async (t) => {
    const suites = ['native', 'chat', 'counter', 'streams', 'signal', 'socketio'].map((s) => `test/${s}.test.mjs`);
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...suites], {
      // NODE_TEST_CONTEXT would make the child report to this runner instead of running.
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')), SWITCHBOARD_URL: base, SWITCHBOARD_API_KEY: apiKey, SWITCHBOARD_TEST_OAUTH_PORT: '0', SWITCHBOARD_STREAMS_CLIENT_SECRET: secret },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, out.slice(-6000));
    const passed = Number(out.match(/ℹ pass (\d+)/)?.[1]);
    t.diagnostic(`${passed} tests of ${suites.length} suites passed through the balancer`);
    assert.ok(passed >= 20 && /ℹ fail 0/.test(out), out.slice(-3000));
  });

  test('clients on different nodes: chat, counter, streams and native presence are one', async () => {
    // Native: a member on each node; the third node counts both.
    const members = [nativeClient(nodeURL(0)), nativeClient(nodeURL(1))];
    for (const m of members) { await m.opened; await m.call('connect', {}); await m.call('subscribe', { channel: 'pinned' }); }
    const stats = await members[0].call('presence_stats', { channel: 'pinned' });
    assert.equal(stats.result.num_clients, 2);
    await publish(nodeURL(2), apiKey, 'pinned', 'from the third node');
    for (const m of members) assert.equal((await m.next((x) => x.push === 'pub')).data, 'from the third node');
    for (const m of members) m.ws.close();

    // Chat: alice's socket on node 0 (4.x, WebSocket), bob's on node 1 (2.x, polling); the
    // REST post goes to node 2.
    const rest = async (node, method, p, body) => {
      const r = await fetch(nodeURL(node) + '/chat' + p, { method, headers: { 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
      return r.json();
    };
    const signup = async (node) => {
      const username = 'c' + crypto.randomBytes(6).toString('hex'); const password = 'pw-' + crypto.randomUUID();
      const u = await rest(node, 'POST', '/user', { username, password });
      const login = await rest((node + 1) % 3, 'POST', '/auth', { username, password });
      return { id: u.id, token: login.token_value };
    };
    const alice = await signup(0); const bob = await signup(1);
    const chatSock = (io, node, transports, user) => {
      const sock = io(nodeURL(node), { path: '/chat/socket.io', transports, forceNew: true, reconnection: false });
      const seen = [];
      for (const ev of ['identified', 'post message', 'channel movement', 'start typing']) sock.on(ev, (d) => seen.push([ev, d]));
      sock.on('connect', () => sock.emit('identify', user.token));
      return { sock, seen, has: (ev, pred = () => true) => seen.some(([e, d]) => e === ev && pred(d)) };
    };
    const a = chatSock(io4, 0, ['websocket'], alice); const b = chatSock(io2, 1, ['polling'], bob);
    await until(() => a.has('identified') && b.has('identified'), 'both identified');
    a.sock.emit('change channel', { id: 1 });
    await until(() => a.has('channel movement', (d) => d.channel_id === 1 && d.users.includes(alice.id)), 'alice in channel 1');
    b.sock.emit('change channel', { id: 1 });
    await until(() => a.has('channel movement', (d) => d.users.includes(alice.id) && d.users.includes(bob.id)), 'alice sees both in channel 1 (lists are cluster-wide)');
    a.sock.emit('start typing', { channel_id: 1 });
    await until(() => b.has('start typing', (d) => d.user_id === alice.id), 'bob sees alice typing from another node');
    const posted = await rest(2, 'POST', `/message?auth=${alice.token}`, { message_text: 'across nodes', channel_id: 1 });
    await until(() => a.has('post message', (d) => d.id === posted.id) && b.has('post message', (d) => d.id === posted.id), 'the post reaches both nodes');
    a.sock.close(); b.sock.close();

    // Counter: clickers on nodes 0 and 1; every click reaches both; online users and the
    // total agree on node 2.
    const before = await (await fetch(nodeURL(2) + '/api/current_stats')).json();
    const clickers = [[io2, 0, 'polling'], [io4, 1, 'websocket']].map(([io, node, tr]) => {
      const sock = io(nodeURL(node), { path: '/api/socket.io', transports: [tr], forceNew: true, reconnection: false });
      const clicks = [];
      sock.on('click', (k) => clicks.push(k.comment));
      return { sock, clicks, connected: new Promise((resolve) => sock.on('connect', resolve)) };
    });
    await Promise.all(clickers.map((k) => k.connected));
    await until(async () => JSON.parse((await get(nodeURL(2) + '/api/online_users')).body).length === 2, 'online users cluster-wide');
    clickers.forEach((k, i) => { for (let j = 0; j < 5; j++) k.sock.emit('click', { user: `pin${i}`, comment: `pin-${i}-${j}` }); });
    await until(() => clickers.every((k) => k.clicks.filter((x) => x?.startsWith('pin-')).length === 10), 'every click reaches both nodes');
    await until(async () => (await (await fetch(nodeURL(2) + '/api/current_stats')).json()).click_count_total === before.click_count_total + 10, 'the total counts each click once');
    for (const k of clickers) k.sock.close();

    // Streams: signed in through the balancer, the sender on node 0, viewers on 1 and 2.
    const start = await fetch(base + '/v0/auth/wca/start', { redirect: 'manual' });
    const cookie = start.headers.get('set-cookie').split(';')[0];
    const state = new URL(start.headers.get('location')).searchParams.get('state');
    const cb = await fetch(`${base}/v0/auth/wca/oauth_callback?code=good&state=${state}`, { redirect: 'manual', headers: { cookie } });
    const claimToken = new URL(cb.headers.get('location')).searchParams.get('claimToken');
    const { twizzleAccessToken: token } = await (await fetch(`${base}/v0/claim?claimToken=${claimToken}`, { method: 'POST' })).json();
    const { stream } = await (await fetch(`${nodeURL(1)}/v0/streams?twizzleAccessToken=${token}`, { method: 'POST' })).json();
    const list = await (await fetch(nodeURL(2) + '/v0/streams')).json();
    assert.ok(list.streams.some((s) => s.streamID === stream.streamID), 'the stream is listed on another node');
    const sockAt = (node, q = '') => {
      const ws = new WebSocket(`ws://127.0.0.1:${c.ports[node]}/v0/streams/${stream.streamID}/socket${q}`);
      const got = []; ws.on('message', (d) => got.push(JSON.parse(d.toString())));
      return { ws, got, opened: new Promise((resolve) => ws.once('open', resolve)), closed: new Promise((resolve) => ws.once('close', resolve)) };
    };
    const sender = sockAt(0, `?twizzleAccessToken=${token}`);
    const viewers = [sockAt(1), sockAt(2)];
    await Promise.all([sender.opened, ...viewers.map((v) => v.opened)]);
    const timer = setInterval(() => sender.ws.send(JSON.stringify({ event: 'move', data: { latestMove: { family: 'R', amount: 1, type: 'blockMove' }, timeStamp: 1 } })), 20);
    try {
      await until(() => viewers.every((v) => v.got.some((m) => m.event === 'move')), 'viewers on other nodes get the moves');
    } finally { clearInterval(timer); }
    const late = sockAt(2);
    await until(() => late.got.some((m) => m.event === 'move'), 'a late viewer on node 2 is replayed the latest move');
    // The sender leaves; after the stream timeout some node ends the stream and every node
    // closes its viewers.
    sender.ws.close();
    await Promise.all([...viewers, late].map((v) => v.closed));
    const after = await (await fetch(nodeURL(0) + '/v0/streams')).json();
    assert.ok(!after.streams.some((s) => s.streamID === stream.streamID), 'the ended stream is gone from the list');
  });

  test('kill -9 of a node under traffic: clients reconnect, recover, nothing acknowledged is lost', async () => {
    const channel = 'kill-room';
    // Native clients, two per node, that reconnect through the balancer and recover.
    const natives = [];
    // record keeps every publication a client is given, live or recovered; its position is
    // the newest offset seen.
    const record = (n, p, epoch) => {
      n.data.push(p.data);
      if (!n.pos || p.offset > n.pos.offset) n.pos = { offset: p.offset, epoch: epoch ?? n.pos.epoch };
    };
    const attach = async (n, url) => {
      const cl = nativeClient(url, (m) => { if (m.push === 'pub') record(n, m); });
      n.cl = cl;
      cl.ws.on('close', () => { if (!n.done) setTimeout(() => attach(n, base).catch((e) => n.errors.push(String(e))), 100); });
      await cl.opened;
      await cl.call('connect', {});
      const sub = await cl.call('subscribe', n.pos ? { channel, since: n.pos } : { channel });
      if (n.pos) n.recoveries.push(sub.result.recovered);
      for (const p of sub.result.publications ?? []) record(n, p, sub.result.epoch);
      if (!n.pos || n.pos.epoch !== sub.result.epoch) n.pos = { offset: Math.max(n.pos?.offset ?? 0, sub.result.offset), epoch: sub.result.epoch };
    };
    const clickers = [];
    try {
      await killUnderTraffic(natives, clickers, attach, channel);
    } finally {
      for (const n of natives) { n.done = true; n.cl?.ws.close(); }
      for (const k of clickers) k.sock.close();
    }
  });

  // killUnderTraffic runs the scenario of the test above; its caller closes the clients.
  async function killUnderTraffic(natives, clickers, attach, channel) {
    for (let i = 0; i < 6; i++) {
      const n = { node: i % 3, data: [], recoveries: [], errors: [], done: false };
      natives.push(n);
      await attach(n, nodeURL(i % 3));
    }
    // Counter clickers through the balancer (their polling sessions stick to one node) and a
    // chat poster.
    const startStats = await (await fetch(base + '/api/current_stats')).json();
    [io2, io4, io2, io4].forEach((io, i) => {
      const k = { sent: 0, acked: new Set(), sock: io(base, { path: '/api/socket.io', transports: [i < 2 ? 'polling' : 'websocket'], forceNew: true }) };
      k.sock.on('click', (x) => { if (x.user === `killer${i}`) k.acked.add(x.comment); });
      clickers.push(k);
    });
    await until(() => clickers.every((k) => k.sock.connected), 'clickers connected');
    const online = await Promise.all([0, 1, 2].map(async (i) => JSON.parse((await get(nodeURL(i) + '/api/online_users')).body).length));
    const victim = online.findIndex((x) => x > 0); // the node holding the socket.io sessions
    const poster = await (async () => {
      const username = 'k' + crypto.randomBytes(6).toString('hex'); const password = 'pw-' + crypto.randomUUID();
      await fetch(base + '/chat/user', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password }) });
      const r = await fetch(base + '/chat/auth', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password }) });
      return (await r.json()).token_value;
    })();

    const published = []; const posted = []; let running = true;
    const traffic = (async () => {
      for (let i = 0; running; i++) {
        try { await publish(base, apiKey, channel, i); published.push(i); } catch { /* not acknowledged */ }
        try {
          const r = await fetch(`${base}/chat/message?auth=${poster}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message_text: `k${i}`, channel_id: 1 }) });
          if (r.status === 200) posted.push((await r.json()).id);
        } catch { /* not acknowledged */ }
        clickers.forEach((k, j) => { if (k.sock.connected) { k.sock.emit('click', { user: `killer${j}`, comment: `k${i}` }); k.sent++; } });
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    await until(() => published.length >= 30, 'traffic before the kill');
    c.nodes[victim].proc.kill('SIGKILL');
    await c.nodes[victim].exited;
    const atKill = published.length;
    await until(() => published.length >= atKill + 60 && clickers.every((k) => k.sock.connected), 'traffic after the kill, clickers back');
    running = false;
    await traffic;

    // Every native client has every acknowledged publication exactly once, and every
    // reconnection recovered.
    await until(() => natives.every((n) => published.every((v) => n.data.includes(v))),
      'every client has every acknowledged publication: ' + JSON.stringify(natives.map((n) => [n.node, n.data.length, n.recoveries, n.errors])));
    for (const n of natives) {
      assert.equal(new Set(n.data).size, n.data.length, `client on node ${n.node} got a publication twice`);
      assert.ok(n.recoveries.every((r) => r === true), `client on node ${n.node} reconnected without recovering: ${n.recoveries}`);
    }
    assert.ok(natives.filter((n) => n.node === victim).every((n) => n.recoveries.length > 0), 'the killed node\'s clients reconnected');

    // Chat keeps every acknowledged message; the counter every acknowledged click, and never
    // more than were sent.
    const messages = await (await fetch(base + '/chat/message?channel_id=1')).json();
    const ids = new Set(messages.map((m) => m.id));
    assert.deepEqual(posted.filter((id) => !ids.has(id)), [], 'acknowledged chat messages lost');
    const acked = clickers.reduce((s, k) => s + k.acked.size, 0);
    const sent = clickers.reduce((s, k) => s + k.sent, 0);
    await until(async () => {
      const now = await (await fetch(base + '/api/current_stats')).json();
      return now.click_count_total - startStats.click_count_total >= acked;
    }, `the counter holds the ${acked} acknowledged clicks`);
    const endStats = await (await fetch(base + '/api/current_stats')).json();
    assert.ok(endStats.click_count_total - startStats.click_count_total <= sent, 'more clicks counted than sent');
  }

  test('NATS restarts: readiness says so, publishing fails clearly, history survives', async () => {
    const live = [0, 1, 2].filter((i) => c.nodes[i].proc.exitCode === null && c.nodes[i].proc.signalCode === null);
    const url = nodeURL(live[0]);
    const before = await (await fetch(url + '/v1/api/history', { method: 'POST', headers: { 'X-API-Key': apiKey }, body: JSON.stringify({ channel: 'kill-room', limit: 10 }) })).json();
    assert.ok(before.publications.length > 0);
    nats.proc.kill('SIGKILL');
    await nats.exited;
    await until(async () => (await get(url + '/readyz')).status === 503, 'readyz reports NATS down');
    const refused = await fetch(url + '/v1/api/publish', { method: 'POST', headers: { 'X-API-Key': apiKey }, body: JSON.stringify({ channel: 'kill-room', data: 'during' }) });
    assert.equal(refused.status, 503, 'a publish while NATS is down');
    assert.match((await refused.json()).error, /unreachable/);
    nats = startNATS();
    for (const i of live) await until(async () => (await get(nodeURL(i) + '/readyz')).status === 200, `node ${i} ready again`);
    const afterRestart = await (await fetch(url + '/v1/api/history', { method: 'POST', headers: { 'X-API-Key': apiKey }, body: JSON.stringify({ channel: 'kill-room', limit: 10 }) })).json();
    assert.deepEqual(afterRestart.publications.map((p) => p.data), before.publications.map((p) => p.data));
    assert.equal(afterRestart.offset, before.offset);
    const next = await publish(url, apiKey, 'kill-room', 'after');
    assert.equal(next.offset, before.offset + 1);
    assert.notEqual(next.epoch, before.epoch, 'a NATS restart starts a new epoch (new_epoch_on_restart)');
  });
});
