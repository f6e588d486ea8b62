// A reference live counter on Node's socket.io 4.8 server, written for the side-by-side
// benchmark (scripts/bench-socketio): the counter's wire events and nothing else. Counts live
// in memory, so it pays for no store; it is the bar Switchboard's socket.io path is measured
// against. Listens on 127.0.0.1:$PORT; stops on SIGTERM/SIGINT.
//
//   client → server  click {user, comment, style?}
//   server → client  stats (on connect), click {user, comment, style, timestamp} to everyone
//   GET /api/current_stats  {click_count_total}
import http from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.env.PORT);
let total = 0;
const srv = http.createServer((req, res) => {
  if (req.url === '/api/current_stats') {
    res.setHeader('Content-Type', 'application/json');
    return res.end(JSON.stringify({ click_count_total: total }));
  }
  res.statusCode = 404;
  res.end();
});
const io = new Server(srv, { path: '/api/socket.io', cors: { origin: '*' } });
io.on('connection', (sock) => {
  sock.emit('stats', { click_count_total: total });
  sock.on('click', (c) => {
    if (!c || typeof c.user !== 'string') return;
    total++;
    io.emit('click', { user: c.user, comment: c.comment ?? null, style: c.style ?? null, timestamp: Math.floor(Date.now() / 1000) });
  });
});
srv.listen(port, '127.0.0.1', () => console.error(`reference counter on ${port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { io.close(); process.exit(0); });
