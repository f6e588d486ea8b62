// A restart never strands a client: a Switchboard of its own (the binary scripts/test built,
// SWITCHBOARD_BIN) is stopped with SIGTERM and started again on the same port and data, and
// every socket.io client generation (1.7.4, 2.5.0, 4.8.4) on both transports comes back by
// itself. On the way out each gets keenchat's `refresh page` and a transport close (never an
// "io server disconnect", after which socket.io clients give up), and during the drain delay
// /readyz answers 503 while the node still serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import io1 from 'sio1';
import io2 from 'sio2';
import io4 from 'sio4';
import { freePort, get, run, until } from './lib/procs.mjs';

const bin = process.env.SWITCHBOARD_BIN;

function startServer(port, data) {
  // A drain delay far longer than the test: a second SIGTERM ends it once the test has seen
  // what happens during it.
  return run(bin, ['-addr', `127.0.0.1:${port}`, '-data', data, '-log-level', 'warn'], { SWITCHBOARD_DRAIN_DELAY: '10m' });
}

const status = async (url) => (await get(url)).status;

test('SIGTERM and restart: every socket.io client comes back by itself', { skip: !bin && 'SWITCHBOARD_BIN is not set (scripts/test sets it)' }, async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const data = mkdtempSync(path.join(os.tmpdir(), 'sb-restart-'));
  let server = startServer(port, data);
  try {
    await until(async () => (await status(base + '/readyz')) === 200, 'first server ready');
    const clients = [];
    for (const [gen, io] of [['1.7.4', io1], ['2.5.0', io2], ['4.8.4', io4]]) {
      for (const transports of [['polling'], ['websocket']]) {
        // keenchat's web client reconnects with socket.io's defaults; so do these.
        const sock = io(base, { path: '/chat/socket.io', transports, forceNew: true });
        const c = { label: `${gen} ${transports[0]}`, sock, connects: 0, log: [] };
        sock.on('connect', () => { c.connects++; c.log.push('connect'); });
        sock.on('refresh page', () => c.log.push('refresh page'));
        sock.on('disconnect', (reason) => c.log.push(`disconnect: ${reason}`));
        clients.push(c);
      }
    }
    await until(() => clients.every((c) => c.connects === 1), 'all connected');

    server.proc.kill('SIGTERM');
    // The drain delay: out of rotation (/readyz 503) but still serving.
    await until(async () => (await status(base + '/readyz')) === 503, '/readyz 503 while draining');
    assert.equal(await status(base + '/healthz'), 200, 'still serving during the drain delay');
    assert.ok(clients.every((c) => c.connects === 1 && !c.log.some((e) => e.startsWith('disconnect'))), 'nobody is cut off during the delay');
    server.proc.kill('SIGTERM'); // a second signal: drain now
    const { code, log } = await server.exited;
    assert.equal(code, 0, `the server drained cleanly:\n${log}`);

    server = startServer(port, data);
    await until(() => clients.every((c) => c.connects === 2), 'every client reconnected: ' +
      JSON.stringify(clients.map((c) => [c.label, c.log])));
    for (const c of clients) {
      const bye = c.log.indexOf('refresh page');
      const gone = c.log.findIndex((e) => e.startsWith('disconnect'));
      assert.ok(bye >= 0 && bye < gone, `${c.label}: refresh page before the disconnect: ${c.log}`);
      assert.ok(!c.log.includes('disconnect: io server disconnect'), `${c.label}: ${c.log}`);
      c.sock.close();
    }
  } finally {
    server.proc.kill('SIGINT');
    await server.exited;
    rmSync(data, { recursive: true, force: true });
  }
});
