// The counter's durability promise (docs/counter.md), under kill -9: a click is broadcast
// before it is stored, and a crash loses at most the clicks of the last commit window, never
// an older one. A Switchboard of its own (SWITCHBOARD_BIN) takes clicks from four clients
// while a fifth watches the broadcasts; it is killed mid-stream and started again on the same
// data, and what it stored is compared with what was broadcast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import io4 from 'sio4';
import { freePort, get, run, until } from './lib/procs.mjs';

const bin = process.env.SWITCHBOARD_BIN;

test('kill -9 while clicking: only the newest broadcast clicks can be lost, none is counted twice', { skip: !bin && 'SWITCHBOARD_BIN is not set (scripts/test sets it)' }, async (t) => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const data = mkdtempSync(path.join(os.tmpdir(), 'sb-crash-'));
  const start = () => run(bin, ['-addr', `127.0.0.1:${port}`, '-data', data, '-log-level', 'warn']);
  let server = start();
  const socks = [];
  try {
    await until(async () => (await get(base + '/readyz')).status === 200, 'server ready');
    const open = () => {
      const s = io4(base, { path: '/api/socket.io', transports: ['websocket'], forceNew: true, reconnection: false });
      socks.push(s);
      return new Promise((resolve) => s.on('connect', () => resolve(s)));
    };
    const watcher = await open();
    const seen = []; // broadcast order, as "user:seq"
    watcher.on('click', (c) => { if (c.user.startsWith('crash')) seen.push(`${c.user}:${c.comment}`); });
    const users = ['crash0', 'crash1', 'crash2', 'crash3'];
    const sent = Object.fromEntries(users.map((u) => [u, 0]));
    const clickers = await Promise.all(users.map(() => open()));
    const timers = clickers.map((s, i) => setInterval(() => { s.emit('click', { user: users[i], comment: String(sent[users[i]]++) }); }, 8));
    await until(() => seen.length >= 400, 'clicks broadcast before the kill');
    server.proc.kill('SIGKILL');
    await server.exited;
    timers.forEach(clearInterval);

    server = start();
    await until(async () => (await get(base + '/readyz')).status === 200, 'server ready again');
    const stored = Object.fromEntries(JSON.parse((await get(base + '/api/users')).body)
      .filter((u) => users.includes(u.name)).map((u) => [u.name, u.click_count]));
    // A client's clicks are stored in the order it sent them, so what survived of each
    // client is its first stored[u] clicks.
    const lost = [];
    seen.forEach((key, i) => {
      const [u, seq] = key.split(':');
      if (Number(seq) >= (stored[u] ?? 0)) lost.push(i);
    });
    t.diagnostic(`${seen.length} clicks seen broadcast, ${Object.values(stored).reduce((a, b) => a + b, 0)} stored, ${lost.length} of the seen lost`);
    for (const u of users) assert.ok((stored[u] ?? 0) <= sent[u], `${u}: ${stored[u]} stored of ${sent[u]} sent: counted twice`);
    // Every lost click is among the newest broadcasts: past the lost ones themselves, at most
    // one click per client can sit between being queued and being broadcast.
    const tail = seen.length - lost.length - users.length;
    assert.ok(lost.every((i) => i >= tail), `a click broadcast long before the kill was lost: positions ${lost.slice(0, 5)} of ${seen.length}`);
  } finally {
    for (const s of socks) s.close();
    server.proc.kill('SIGINT');
    await server.exited;
    rmSync(data, { recursive: true, force: true });
  }
});
