// The chat demo: a keenchat client on the real wire API (docs/chat.md).
import { io } from '../vendor/socket.io.esm.min.js';

const $ = (id) => document.getElementById(id);
const state = { base: '/chat', token: '', me: 0, channel: 0, names: new Map(), socket: null, typingTimer: 0 };

async function rest(method, path, body) {
  const res = await fetch(state.base + path + (state.token ? (path.includes('?') ? '&' : '?') + 'auth=' + state.token : ''), {
    method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  // keenchat answers some failures with 200 {"error"}; the rest are 4xx with {"error"}.
  if (!res.ok || data.error) throw Object.assign(new Error(data.error || res.statusText), { status: res.status });
  return data;
}

async function name(id) {
  if (!state.names.has(id)) {
    try { state.names.set(id, (await rest('GET', `/user/${id}`)).username); } catch { state.names.set(id, `user ${id}`); }
  }
  return state.names.get(id);
}

function line(text) {
  const li = document.createElement('li');
  li.textContent = text;
  $('messages').append(li);
  $('messages').scrollTop = $('messages').scrollHeight;
}

async function show(m) {
  line(`${await name(m.user_id)}: ${m.message_text}`);
}

async function enter(id) {
  state.channel = id;
  $('messages').innerHTML = '';
  $('room-title').textContent = $('channel').selectedOptions[0]?.textContent ?? 'Channel';
  state.socket.emit('change channel', { id });
  for (const m of await rest('GET', `/message?channel_id=${id}&limit=50`)) await show(m);
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const username = $('username').value.trim();
  const password = $('password').value;
  $('status').textContent = 'signing in…';
  try {
    try {
      await rest('POST', '/user', { username, password });
    } catch (err) {
      if (err.status !== 409) throw err; // taken: sign in instead
    }
    const auth = await rest('POST', '/auth', { username, password });
    state.token = auth.token_value;
    state.me = auth.user_id;
  } catch (err) {
    $('status').textContent = 'could not sign in: ' + err.message;
    return;
  }
  const socket = io({ path: state.base + '/socket.io' });
  state.socket = socket;
  // After a server restart the socket reconnects by itself; identify again each time.
  socket.on('connect', () => socket.emit('identify', state.token));
  socket.on('identity failure', () => { $('status').textContent = 'signed out by the server'; });
  socket.on('identified', async () => {
    $('status').textContent = `signed in as ${username}`;
    $('login').hidden = true;
    $('room').hidden = false;
    if (state.channel) { socket.emit('change channel', { id: state.channel }); return; }
    const channels = await rest('GET', '/channel');
    $('channel').innerHTML = channels.map((c) => `<option value="${c.id}">${c.title.replace(/[<&]/g, '')}</option>`).join('');
    await enter(channels[0].id);
  });
  socket.on('post message', (m) => { if (m.channel_id === state.channel) show(m); });
  socket.on('channel movement', async (mv) => {
    if (mv.channel_id !== state.channel) return;
    const names = await Promise.all(mv.users.map(name));
    $('people').textContent = 'here now: ' + names.join(', ');
  });
  socket.on('start typing', async (t) => { if (t.user_id !== state.me) $('typing').textContent = `${await name(t.user_id)} is typing…`; });
  socket.on('stop typing', () => { $('typing').textContent = ''; });
});

$('channel').addEventListener('change', () => enter(Number($('channel').value)));

$('text').addEventListener('input', () => {
  if (!state.typingTimer) state.socket.emit('start typing', { channel_id: state.channel });
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(() => { state.socket.emit('stop typing', { channel_id: state.channel }); state.typingTimer = 0; }, 1500);
});

$('send').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  try {
    await rest('POST', '/message', { channel_id: state.channel, message_text: text });
    $('text').value = '';
  } catch (err) {
    $('status').textContent = 'not sent: ' + err.message;
  }
});

// The chat's prefix, as this node mounts it.
fetch('../api/session').then((r) => r.json()).then((s) => { if (s.prefixes?.chat !== undefined) state.base = s.prefixes.chat; }).catch(() => {});
