// What the Node load clients (bench/*-load.mjs) share: the clock, the loopback rule, the worker
// processes and their reports.
import { fork } from 'node:child_process';
import { io as sio4 } from 'sio4';
import { io as raw } from './rawsio.mjs';

// now is a millisecond clock with sub-millisecond digits, shared across processes.
export const now = () => performance.timeOrigin + performance.now();

// loopback refuses a target off this machine: load runs stay on 127.0.0.1.
export function loopback(url) {
  if (!/^http:\/\/(127\.|localhost)/.test(url)) throw new Error('--url must be on 127.0.0.1');
}

// clientIo is the io() of the receiving sockets' client: sio4 (socket.io-client 4) or raw
// (rawsio.mjs, lighter).
export function clientIo(name) {
  if (name === 'sio4') return sio4;
  if (name === 'raw') return raw;
  throw new Error('--client sio4 or raw');
}

// workers forks procs copies of script with --worker i. next(i, key) waits for worker i's next
// message holding key, up to three minutes (a worker that fell behind answers once it has read
// its backlog).
export function workers(script, procs) {
  const ws = Array.from({ length: procs }, (_, i) => fork(script, [...process.argv.slice(2), '--worker', String(i)], { serialization: 'advanced' }));
  const msgs = ws.map((w) => { const q = []; w.on('message', (m) => q.push(m)); return q; });
  ws.forEach((w, i) => w.on('exit', (code, sig) => { if (code !== 0) console.error(`worker ${i} exited: ${code ?? sig}`); }));
  const next = async (i, key) => {
    for (let t = 0; t < 3600; t++) {
      const j = msgs[i].findIndex((m) => key in m);
      if (j >= 0) return msgs[i].splice(j, 1)[0];
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`worker ${i}: no ${key} within three minutes`);
  };
  return { send: (i, m) => ws[i].send(m), next };
}

// report is a worker's answer: what it received and its latency samples, in binary (a million
// samples are 8 MB, not a JSON string); it exits once that is sent.
export function report(received, lat, socks) {
  for (const s of socks) s.close();
  process.send({ received, lat: Float64Array.from(lat) }, () => process.exit(0));
}

// collect asks every worker for its report and merges them: the total received, and pct(p),
// a latency percentile ("12.3ms").
export async function collect(w, procs) {
  const reports = [];
  for (let i = 0; i < procs; i++) { w.send(i, { report: true }); reports.push(await w.next(i, 'received')); }
  const lat = Float64Array.from(reports.flatMap((r) => Array.from(r.lat))).sort();
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1) + 'ms' : '–');
  return { received: reports.reduce((n, r) => n + r.received, 0), samples: lat.length, pct };
}

// settle waits until the workers have received expected deliveries in all, or none arrived for
// quietMs: on a loaded box the last deliveries are waited for however late, and lost ones end
// the wait once nothing moves. A worker answers {count} with {count: received}.
export async function settle(w, procs, expected, quietMs = 10000) {
  let last = -1; let since = Date.now();
  for (;;) {
    let total = 0;
    for (let i = 0; i < procs; i++) { w.send(i, { count: true }); total += (await w.next(i, 'count')).count; }
    if (total >= expected) return;
    if (total !== last) { last = total; since = Date.now(); } else if (Date.now() - since > quietMs) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
