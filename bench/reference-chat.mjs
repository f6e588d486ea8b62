// A reference chat on Node's socket.io 4.8 server, written for the side-by-side benchmark
// (WORKLOAD=chat scripts/bench-socketio): the part of keenchat's wire that bench/chat-load.mjs
// drives, and nothing else. Everything lives in memory and passwords are kept as given, so it
// pays for no store and no hashing; it is the bar Switchboard's chat is measured against.
// Listens on 127.0.0.1:$PORT under /chat; stops on SIGTERM/SIGINT.
//
//   POST /chat/user {username, password}, POST /chat/auth {username, password} → {token_value}
//   POST /chat/channel?auth=T {title, description} → {id, …}
//   POST /chat/message?auth=T {channel_id, message_text} → the message, and `post message`
//     to every identified socket
//   socket.io at /chat/socket.io: identify T → identified; change channel {id} → `channel
//     movement` {channel_id, users} to every identified socket
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { Server } from 'socket.io';

const port = Number(process.env.PORT);
const users = new Map(); // name → {id, password}
const tokens = new Map(); // token → user id
const channels = new Map(); // id → {id, title, description, members: Set<user id>}
let nextUser = 1; let nextChannel = 1; let nextMessage = 1;

function reply(res, status, v) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(v));
}

const routes = {
  'POST /chat/user': (b) => {
    if (typeof b.username !== 'string' || typeof b.password !== 'string' || users.has(b.username)) return [200, { error: 'Invalid details.' }];
    const u = { id: nextUser++, password: b.password };
    users.set(b.username, u);
    return [200, { id: u.id, username: b.username }];
  },
  'POST /chat/auth': (b) => {
    const u = users.get(b.username);
    if (!u || u.password !== b.password) return [200, { error: 'Invalid details.' }];
    const token = randomBytes(16).toString('hex');
    tokens.set(token, u.id);
    return [200, { token_value: token, user_id: u.id }];
  },
  'POST /chat/channel': (b, user) => {
    const c = { id: nextChannel++, title: String(b.title), description: String(b.description ?? ''), members: new Set() };
    channels.set(c.id, c);
    return [200, { id: c.id, title: c.title, description: c.description, user_id: user }];
  },
  'POST /chat/message': (b, user) => {
    const c = channels.get(Number(b.channel_id));
    if (!c || typeof b.message_text !== 'string') return [400, { error: 'bad message' }];
    const m = { id: nextMessage++, channel_id: c.id, user_id: user, message_body: b.message_text, time: Date.now(), message_text: b.message_text };
    io.to('identified').emit('post message', m);
    return [200, m];
  },
};

const srv = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const route = routes[`${req.method} ${url.pathname}`];
  if (!route) return reply(res, 404, { error: 'not found' });
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    let b;
    try { b = JSON.parse(body); } catch { return reply(res, 400, { error: 'body must be JSON' }); }
    const user = tokens.get(url.searchParams.get('auth'));
    if (url.pathname !== '/chat/user' && url.pathname !== '/chat/auth' && !user) return reply(res, 200, { error: 'Please pass an auth token.' });
    reply(res, ...route(b, user));
  });
});
const io = new Server(srv, { path: '/chat/socket.io', cors: { origin: '*' } });
io.on('connection', (sock) => {
  let user = 0; let channel = null;
  sock.on('identify', (token) => {
    user = tokens.get(token) ?? 0;
    if (!user) return sock.emit('identity failure');
    sock.join('identified');
    sock.emit('identified');
  });
  const leave = () => {
    if (!channel) return;
    channel.members.delete(user);
    io.to('identified').emit('channel movement', { channel_id: channel.id, users: [...channel.members].sort((a, b) => a - b) });
    channel = null;
  };
  sock.on('change channel', (arg) => {
    const c = channels.get(Number(arg?.id));
    if (!user || !c) return;
    leave();
    channel = c;
    c.members.add(user);
    io.to('identified').emit('channel movement', { channel_id: c.id, users: [...c.members].sort((a, b) => a - b) });
  });
  sock.on('disconnect', leave);
});
srv.listen(port, '127.0.0.1', () => console.error(`reference chat on ${port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { io.close(); process.exit(0); });
