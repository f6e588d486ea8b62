// A load client for the live counter's socket.io workload on socket.io-client 4 (the client
// frust-web uses), as a second instrument beside sbload's Go client: -clickers sockets, spread
// over -procs processes, every one receiving every click; the clicks go out at -rate in total.
// Prints deliveries, click→receive latency percentiles, and whether every click reached every
// socket. Loopback only; it stops by itself.
//
//   node bench/counter-load.mjs --url http://127.0.0.1:8080 --clickers 200 --rate 200 --duration 10 --procs 2
import { parseArgs } from 'node:util';
import { clientIo, collect, loopback, now, report, settle, workers } from './lib/load.mjs';

const { values: o } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    clickers: { type: 'string', default: '200' },
    rate: { type: 'string', default: '200' },
    duration: { type: 'string', default: '10' },
    procs: { type: 'string', default: '2' },
    // client: sio4 (socket.io-client 4, the default) or raw (lib/rawsio.mjs, lighter).
    client: { type: 'string', default: 'sio4' },
    worker: { type: 'string' },
  },
});
const clickers = Number(o.clickers); const rate = Number(o.rate); const duration = Number(o.duration); const procs = Number(o.procs);
loopback(o.url);
const io = clientIo(o.client);
if (!(clickers > 0 && clickers <= 2000 && rate > 0 && duration > 0 && duration <= 120 && procs >= 1 && procs <= 8)) {
  throw new Error('--clickers 1..2000, --rate > 0, --duration 1..120 s, --procs 1..8');
}

if (o.worker !== undefined) {
  // A worker: its share of the sockets; worker 0 also clicks when told to.
  const index = Number(o.worker);
  const share = Math.floor(clickers / procs) + (index < clickers % procs ? 1 : 0);
  const socks = []; const lat = []; let received = 0;
  let ready = 0;
  for (let i = 0; i < share; i++) {
    const s = io(o.url, { path: '/api/socket.io', transports: ['websocket'], forceNew: true, reconnection: false });
    s.once('stats', () => { if (++ready === share) process.send({ ready: true }); });
    s.on('click', (c) => {
      received++;
      const sent = Number(String(c.comment ?? '').slice(1));
      if (sent) lat.push(now() - sent);
    });
    socks.push(s);
  }
  process.on('message', async (m) => {
    if (m.click) {
      const every = 1000 / rate; const start = now(); let n = 0;
      while (now() - start < duration * 1000) {
        socks[n % socks.length].emit('click', { user: 'load' + (n % 50), comment: 't' + now().toFixed(3) });
        n++;
        const wait = start + n * every - now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      process.send({ sent: n });
    }
    if (m.count) process.send({ count: received });
    if (m.report) {
      report(received, lat, socks);
    }
  });
} else {
  const w = workers(new URL(import.meta.url).pathname, procs);
  const total = async () => (await (await fetch(o.url + '/api/current_stats')).json()).click_count_total;
  await Promise.all(Array.from({ length: procs }, (_, i) => w.next(i, 'ready')));
  const before = await total();
  w.send(0, { click: true });
  const { sent } = await w.next(0, 'sent');
  const expected = sent * clickers;
  // The last deliveries (see settle), then every worker reports.
  await settle(w, procs, expected);
  const { received, samples, pct } = await collect(w, procs);
  console.log(`${clickers} clickers over ${procs} processes sent ${sent} clicks at ${rate}/s; the total counter moved by ${(await total()) - before}`);
  console.log(`received ${received} of ${expected} click events (${((100 * received) / expected).toFixed(2)}%): ${Math.round(received / duration)} deliveries/s`);
  console.log(`click→receive latency over ${samples} samples: p50 ${pct(0.5)}  p95 ${pct(0.95)}  p99 ${pct(0.99)}  max ${pct(1)}`);
}
