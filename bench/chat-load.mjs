// A load client for the chat's workload on socket.io-client 4: -users users sign up and sign in
// over keenchat's REST API, each identifies one socket (spread over -procs processes) and
// joins one of -channels channels; messages are posted over REST at -rate in total, and every
// identified socket receives every `post message`. Prints deliveries and post→receive latency
// percentiles. Loopback only; it stops by itself. The server must allow the sign-in and post
// rates (examples/load.json does).
//
//   node bench/chat-load.mjs --url http://127.0.0.1:8080 --users 800 --channels 20 --rate 100 --duration 10
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { clientIo, collect, loopback, now, report, settle, workers } from './lib/load.mjs';

const { values: o } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    users: { type: 'string', default: '200' },
    channels: { type: 'string', default: '10' },
    rate: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    procs: { type: 'string', default: '2' },
    // client: sio4 (socket.io-client 4, the default) or raw (lib/rawsio.mjs, lighter).
    client: { type: 'string', default: 'sio4' },
    worker: { type: 'string' },
    // pid: the server's process, whose CPU over the posting (from the first post to the
    // last delivery's wait) is printed as "server cpu ticks: N" (sign-ups are left out).
    pid: { type: 'string' },
  },
});
const users = Number(o.users); const nch = Number(o.channels); const rate = Number(o.rate);
const duration = Number(o.duration); const procs = Number(o.procs);
loopback(o.url);
const io = clientIo(o.client);
if (!(users > 0 && users <= 2000 && nch > 0 && nch <= 100 && rate > 0 && duration > 0 && duration <= 120 && procs >= 1 && procs <= 8)) {
  throw new Error('--users 1..2000, --channels 1..100, --rate > 0, --duration 1..120 s, --procs 1..8');
}
const base = o.url + '/chat';

// rest calls the REST API over kept-alive connections (node:http: fetch cost the posting
// process several times the CPU, on the cores the server and the sockets share).
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
function rest(method, path, body, token) {
  return new Promise((resolve, reject) => {
    const req = http.request(base + path + (token ? `?auth=${token}` : ''), { method, agent, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let data;
        try { data = JSON.parse(text); } catch { return reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 80)}`)); }
        if (res.statusCode !== 200 || data.error) return reject(new Error(`${method} ${path}: ${res.statusCode} ${data.error ?? ''}`));
        resolve(data);
      });
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

if (o.worker !== undefined) {
  // A worker: sockets for the users it is given, each identified and in its channel.
  const lat = []; let received = 0; const socks = []; let lastMovement = 0;
  process.on('message', async (m) => {
    if (m.users) {
      let ready = 0;
      for (const u of m.users) {
        const s = io(o.url, { path: '/chat/socket.io', transports: ['websocket'], forceNew: true, reconnection: false });
        s.on('connect', () => s.emit('identify', u.token));
        s.once('identified', () => {
          s.emit('change channel', { id: u.channel });
          if (++ready < m.users.length) return;
          // Every join is a `channel movement` to every identified socket (users² events):
          // ready once that storm has passed, so the posts are measured alone.
          const settling = setInterval(() => {
            if (now() - lastMovement > 2000) { clearInterval(settling); process.send({ ready: true }); }
          }, 250);
        });
        s.on('channel movement', () => { lastMovement = now(); });
        s.on('post message', (msg) => {
          received++;
          const sent = Number(String(msg.message_text).slice(1));
          if (sent) lat.push(now() - sent);
        });
        socks.push(s);
      }
    }
    if (m.count) process.send({ count: received });
    if (m.report) {
      report(received, lat, socks);
    }
  });
} else {
  const run = `${Date.now().toString(36)}`;
  const t0 = Date.now();
  // Users: signed up and in, a few at a time (argon2id makes each a few tens of ms).
  const accounts = [];
  for (let i = 0; i < users; i += 16) {
    const batch = [];
    for (let j = i; j < Math.min(users, i + 16); j++) {
      const name = `load${run}u${j}`;
      batch.push(rest('POST', '/user', { username: name, password: 'load-password' }).then(() => rest('POST', '/auth', { username: name, password: 'load-password' })));
    }
    for (const a of await Promise.all(batch)) accounts.push(a.token_value);
  }
  const channels = [];
  for (let c = 0; c < nch; c++) channels.push((await rest('POST', '/channel', { title: `load ${run} ${c}`, description: 'load' }, accounts[0])).id);
  const w = workers(new URL(import.meta.url).pathname, procs);
  for (let i = 0; i < procs; i++) w.send(i, { users: accounts.map((token, k) => ({ token, channel: channels[k % nch] })).filter((_, k) => k % procs === i) });
  await Promise.all(Array.from({ length: procs }, (_, i) => w.next(i, 'ready')));
  console.log(`${users} users signed in, connected and settled in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // Posts at the rate, from every user in turn, into its channel.
  const ticks = () => { const f = readFileSync(`/proc/${o.pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
  const ticks0 = o.pid ? ticks() : 0;
  const every = 1000 / rate; const start = now(); let sent = 0; let failed = 0; const posts = [];
  while (now() - start < duration * 1000) {
    const k = sent % users;
    posts.push(rest('POST', '/message', { channel_id: channels[k % nch], message_text: 't' + now().toFixed(3) }, accounts[k]).catch(() => { failed++; }));
    sent++;
    const wait = start + sent * every - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(posts);
  await settle(w, procs, (sent - failed) * users); // the last deliveries
  if (o.pid) console.log(`server cpu ticks: ${ticks() - ticks0}`);
  const { received, samples, pct } = await collect(w, procs);
  const expected = (sent - failed) * users;
  console.log(`${users} users in ${nch} channels; posted ${sent} (${failed} failed) at ${rate}/s`);
  console.log(`received ${received} of ${expected} post message events (${((100 * received) / expected).toFixed(2)}%): ${Math.round(received / duration)} deliveries/s`);
  console.log(`post→receive latency over ${samples} samples: p50 ${pct(0.5)}  p95 ${pct(0.95)}  p99 ${pct(0.99)}  max ${pct(1)}`);
}
