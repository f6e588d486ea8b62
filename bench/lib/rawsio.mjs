// A light socket.io 4 client for the load clients' receiving sockets (--client raw): Engine.IO 4
// over a `ws` WebSocket, the default namespace, events without acks or binary attachments. It
// exists so that the measuring sockets cost the box less than socket.io-client's do (at 80k
// deliveries/s, two processes of socket.io-client 4 sockets took about a core of the two the
// server shares), and the server's latency is measured rather than the client's backlog. The
// same client serves every server compared. Unlike socket.io-client it does not reconnect, an
// emit before it is open throws, and it closes on a packet it does not know.
import WebSocket from 'ws';

// io opens a socket like socket.io-client's io(url, {path, transports: ['websocket']}).
export function io(url, { path = '/socket.io' } = {}) {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + path + '/?EIO=4&transport=websocket', { perMessageDeflate: false });
  const handlers = new Map();
  const fire = (name, args) => {
    const hs = handlers.get(name);
    if (!hs) return;
    for (const h of [...hs]) {
      if (h.once) hs.delete(h);
      h.fn(...args);
    }
  };
  const add = (name, fn, once) => {
    if (!handlers.has(name)) handlers.set(name, new Set());
    handlers.get(name).add({ fn, once });
  };
  const socket = {
    on(name, fn) { add(name, fn, false); return socket; },
    once(name, fn) { add(name, fn, true); return socket; },
    emit(name, ...args) { ws.send('42' + JSON.stringify([name, ...args])); return socket; },
    close() { ws.close(); },
  };
  ws.on('message', (data, binary) => {
    const p = binary ? '' : data.toString();
    switch (p.slice(0, 2)) {
      case '2': ws.send('3'); return; // ping
      case '42': { const [name, ...args] = JSON.parse(p.slice(2)); fire(name, args); return; }
      case '40': fire('connect', []); return;
      case '41': ws.close(); return;
    }
    if (p[0] === '0') { ws.send('40'); return; } // open: connect to the default namespace
    console.error(`rawsio: closing on an unexpected packet ${p.slice(0, 40)}`);
    ws.close();
  });
  ws.on('close', () => fire('disconnect', []));
  ws.on('error', (err) => console.error(`rawsio: ${err.message}`));
  return socket;
}
