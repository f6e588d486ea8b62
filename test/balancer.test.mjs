// Three Switchboard nodes behind HAProxy with the shipped config (deploy/haproxy.cfg): every
// socket.io client generation keeps a long-polling session through the balancer (it must stick
// to one node) or uses WebSocket, and when the node holding them is stopped with SIGTERM, they
// reconnect through the balancer to a survivor by themselves. Each node keeps its own data
// here, and realtime does not cross nodes until the NATS broker: every check stays within one
// node. Runs servers of its own from SWITCHBOARD_BIN, and HAProxy (Debian's; .ci/run installs
// it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import io1 from 'sio1';
import io2 from 'sio2';
import io4 from 'sio4';
import { freePort, get, run, until } from './lib/procs.mjs';

const bin = process.env.SWITCHBOARD_BIN;
const haproxy = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find((p) => spawnSync(p, ['-v']).status === 0);

let skip = false;
if (!bin) skip = 'SWITCHBOARD_BIN is not set (scripts/test sets it)';
else if (!haproxy) {
  if (process.env.CI === 'true') throw new Error('HAProxy is required under CI=true (apt-get install haproxy)');
  skip = 'HAProxy is not installed (apt-get install haproxy)';
}

test('socket.io through HAProxy: sticky polling for every client generation, and a stopped node\'s clients move to a survivor', { skip }, async () => {
  const data = mkdtempSync(path.join(os.tmpdir(), 'sb-balancer-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const front = await freePort();
  const nodes = ports.map((port, i) => run(bin, ['-addr', `127.0.0.1:${port}`, '-data', path.join(data, `n${i}`), '-log-level', 'warn'], {
    SWITCHBOARD_TRUSTED_PROXIES: '127.0.0.1', SWITCHBOARD_DRAIN_DELAY: '1s',
  }));
  const lb = run(haproxy, ['-db', '-f', 'deploy/haproxy.cfg'], {
    SB_LISTEN: `127.0.0.1:${front}`, SB_NODE1: `127.0.0.1:${ports[0]}`, SB_NODE2: `127.0.0.1:${ports[1]}`, SB_NODE3: `127.0.0.1:${ports[2]}`,
  });
  const base = `http://127.0.0.1:${front}`;
  const clients = [];
  try {
    for (const port of ports) await until(async () => (await get(`http://127.0.0.1:${port}/readyz`)).status === 200, `node ${port} ready`);
    await until(async () => (await get(base + '/readyz')).status === 200, 'HAProxy forwards');

    for (const [gen, io] of [['1.7.4', io1], ['2.5.0', io2], ['4.8.4', io4]]) {
      for (const transports of [['polling'], ['websocket']]) {
        const sock = io(base, { path: '/api/socket.io', transports, forceNew: true, withCredentials: true });
        const c = { label: `${gen} ${transports[0]}`, sock, connects: 0, clicks: new Set(), errors: [] };
        sock.on('connect', () => { c.connects++; });
        sock.on('click', (k) => c.clicks.add(k.comment));
        sock.on('error', (e) => c.errors.push(String(e)));
        sock.on('connect_error', (e) => c.errors.push('connect_error ' + String(e)));
        sock.on('disconnect', (r) => c.errors.push('disconnect ' + r));
        clients.push(c);
      }
    }
    const roundTrip = async (round) => {
      // Each client clicks and must see its own click: the node it is on broadcasts to its
      // sockets. A polling session that lost its node would fail here.
      for (const [i, c] of clients.entries()) c.sock.emit('click', { user: `lb${i}`, comment: `${round}-${i}` });
      await until(() => clients.every((c, i) => c.clicks.has(`${round}-${i}`)),
        `round ${round}: ${JSON.stringify(clients.map((c, i) => [c.label, c.clicks.has(`${round}-${i}`), c.errors]))}`);
    };
    await until(() => clients.every((c) => c.connects === 1), 'all connected through the balancer: ' +
      JSON.stringify(clients.map((c) => [c.label, c.connects, c.errors])) + '\nHAProxy: ' + lb.log());
    await roundTrip('a');

    // Which node holds them? (Each node lists only its own sockets until the NATS broker.)
    const online = await Promise.all(ports.map(async (p) => JSON.parse((await get(`http://127.0.0.1:${p}/api/online_users`)).body).length));
    assert.equal(online.reduce((a, b) => a + b, 0), clients.length, `sockets per node ${online}`);
    const victim = online.findIndex((n) => n > 0);

    nodes[victim].proc.kill('SIGTERM');
    assert.equal((await nodes[victim].exited).code, 0, 'the stopped node drained cleanly');
    await until(() => clients.every((c) => c.connects === 2), 'every client reconnected to a survivor: ' +
      JSON.stringify(clients.map((c) => [c.label, c.connects, c.errors])));
    await roundTrip('b');
    const after = await Promise.all(ports.map(async (p, i) => (i === victim ? 0 : JSON.parse((await get(`http://127.0.0.1:${p}/api/online_users`)).body).length)));
    assert.equal(after.reduce((a, b) => a + b, 0), clients.length, `sockets per surviving node ${after}`);
  } finally {
    for (const c of clients) c.sock.close();
    lb.proc.kill('SIGTERM');
    for (const n of nodes) n.proc.kill('SIGINT');
    await Promise.all([lb.exited, ...nodes.map((n) => n.exited)]);
    rmSync(data, { recursive: true, force: true });
  }
});
