// A client of the native WebSocket API for the black-box tests, with the real `ws` package.
import WebSocket from 'ws';

export const guardMs = 10000; // bounds every wait; not a speed assertion

// nativeClient opens a connection to base (http://host:port) and yields every server
// message, split out of batched frames; pings are answered. With onPush, pushes go to it as
// they arrive, in order, instead of waiting for next().
export function nativeClient(base, onPush) {
  const ws = new WebSocket(base.replace(/^http/, 'ws') + '/v1/ws');
  const queue = [];
  const waiters = [];
  let nextId = 0;
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) {
      const msg = JSON.parse(line);
      if (msg.push === 'ping') { ws.send('{"method":"pong"}'); continue; }
      if (onPush && msg.push) { onPush(msg); continue; }
      const w = waiters.findIndex((f) => f.match(msg));
      if (w >= 0) waiters.splice(w, 1)[0].resolve(msg); else queue.push(msg);
    }
  });
  const next = (match) => new Promise((resolve, reject) => {
    const i = queue.findIndex(match);
    if (i >= 0) return resolve(queue.splice(i, 1)[0]);
    const t = setTimeout(() => reject(new Error('no matching message')), guardMs);
    waiters.push({ match, resolve: (m) => { clearTimeout(t); resolve(m); } });
  });
  const call = async (method, params) => {
    const id = ++nextId;
    ws.send(JSON.stringify({ id, method, params }));
    return next((m) => m.id === id);
  };
  const opened = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return { ws, call, next, opened, closed };
}

// publish posts to the server API and returns the {offset, epoch} answer.
export async function publish(base, apiKey, channel, data) {
  const res = await fetch(base + '/v1/api/publish', {
    method: 'POST', headers: { 'X-API-Key': apiKey, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`publish ${channel}: ${res.status} ${text}`);
  return JSON.parse(text);
}
