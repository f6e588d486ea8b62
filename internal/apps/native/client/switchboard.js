// Switchboard native protocol client (docs/protocol.md, "JavaScript client"). One ES module,
// no dependencies, for browsers (and any runtime with WebSocket, EventSource and fetch). The
// server serves this file at /v1/client.js.
//
//   import { Client } from '/v1/client.js';
//   const client = new Client('https://host', { token });
//   const sub = client.subscribe('chat:lobby', {
//     publication: (pub) => console.log(pub.data),
//     subscribed: (s) => console.log(s.recovered ? 'recovered' : 'fresh'),
//   });
//   await client.publish('chat:lobby', { text: 'hi' });
//
// The client connects by itself, reconnects with exponential backoff and full jitter, and
// resubscribes each channel with `since` set to the last position it saw, so that a short
// outage is recovered: `subscribed` reports `recovered: true` and the missed publications
// arrive first, in order; `recovered: false` means they could not be (the app should reload
// its state). Where WebSocket is unavailable, or with `transport: 'sse'`, subscriptions use
// Server-Sent Events (one stream per channel, resumed with Last-Event-ID); commands then fail
// with a clear error, since SSE carries no commands.

/**
 * @typedef {{offset: number, epoch: string}} Position
 * @typedef {{client: string, user?: string, info?: any}} ClientInfo
 * @typedef {{channel: string, offset: number, data: any, info?: ClientInfo, time?: number}} Publication
 * @typedef {{channel: string, offset: number, epoch: string, recoverable?: boolean, recovered: boolean}} Subscribed
 * @typedef {'disconnected'|'connecting'|'connected'|'closed'} State
 * @typedef {object} Options
 * @property {string} [token] a connection token (JWT); omitted: anonymous
 * @property {() => Promise<string>} [getToken] called for a fresh token before each connect
 * @property {'auto'|'websocket'|'sse'} [transport] 'auto' (default): WebSocket, SSE when it cannot open
 * @property {number} [minDelay] first reconnect delay, ms (default 500)
 * @property {number} [maxDelay] largest reconnect delay, ms (default 20000)
 * @property {number} [timeout] command timeout, ms (default 10000)
 * @property {string} [prefix] where the native API is mounted (default '')
 * @typedef {object} SubscriptionHandlers
 * @property {(pub: Publication) => void} [publication]
 * @property {(s: Subscribed) => void} [subscribed] after every (re)subscribe
 * @property {(info: ClientInfo) => void} [join]
 * @property {(info: ClientInfo) => void} [leave]
 * @property {(err: Error) => void} [error] a subscribe refused by the server
 */

/** An error answered by the server ({code, message}) or raised by the client. */
export class SwitchboardError extends Error {
  /** @param {number} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.name = 'SwitchboardError';
    this.code = code;
  }
}

// Disconnect codes after which reconnecting cannot help (docs/protocol.md, "Disconnects").
const FINAL = new Set([3500, 3501, 3502, 3503, 3509]);

class Emitter {
  constructor() { this.handlers = new Map(); }
  /** @param {string} event @param {(arg: any) => void} fn @returns {() => void} removes fn */
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
    return () => this.handlers.get(event)?.delete(fn);
  }
  emit(event, arg) {
    for (const fn of this.handlers.get(event) ?? []) {
      try { fn(arg); } catch (err) { console.error('switchboard: handler of', event, 'threw', err); }
    }
  }
}

/** One channel subscription; it lives until unsubscribe(), across reconnects. */
export class Subscription extends Emitter {
  /** @param {Client} client @param {string} channel */
  constructor(client, channel) {
    super();
    this.client = client;
    this.channel = channel;
    /** @type {Position|null} the last position seen, sent as `since` on resubscribe */
    this.position = null;
    this.active = true;
    /** @type {EventSource|null} */
    this.es = null;
    let resolve;
    /** Resolves with the first `subscribed`. @type {Promise<Subscribed>} */
    this.ready = new Promise((r) => { resolve = r; });
    this.resolveReady = resolve;
  }

  /** Stops the subscription. */
  unsubscribe() {
    if (!this.active) return;
    this.active = false;
    this.client.subs.delete(this.channel);
    if (this.es) { this.es.close(); this.es = null; }
    if (this.client.state === 'connected' && this.client.ws) {
      this.client.command('unsubscribe', { channel: this.channel }).catch(() => {});
    }
  }

  /** A (re)subscribe was answered: s, then the publications it recovered, in order. */
  subscribed(s, recoveredPubs) {
    // Not recovered: the stream starts afresh from its current position (none without history).
    if (!s.recovered) this.position = s.epoch ? { offset: s.offset, epoch: s.epoch } : null;
    this.emit('subscribed', s);
    this.resolveReady(s);
    // Recovered: the position moves with the publications (in the answer over WebSocket;
    // as the events that follow over SSE).
    for (const p of recoveredPubs) this.publication(p);
  }

  publication(p) {
    if (p.offset > 0 && this.position) {
      if (p.offset <= this.position.offset) return; // already seen (a recovery overlapping live)
      this.position = { offset: p.offset, epoch: this.position.epoch };
    }
    this.emit('publication', p);
  }
}

/** A connection to a Switchboard node's native API. */
export class Client extends Emitter {
  /** @param {string} [url] the server's base URL (default: this page's origin) @param {Options} [opts] */
  constructor(url, opts = {}) {
    super();
    const loc = typeof location !== 'undefined' ? location.href : 'http://127.0.0.1:8080/';
    this.base = new URL((opts.prefix ?? '') + '/', new URL(url ?? '/', loc));
    this.opts = { transport: 'auto', minDelay: 500, maxDelay: 20000, timeout: 10000, ...opts };
    /** @type {State} */
    this.state = 'disconnected';
    /** @type {Map<string, Subscription>} */
    this.subs = new Map();
    this.pending = new Map();
    this.nextID = 1;
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.useSSE = this.opts.transport === 'sse';
    this.wsWorked = false;
    /** What connect answered: client id, user, ping, version. */
    this.session = null;
  }

  setState(s, detail) {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', { state: s, ...detail });
  }

  /** Opens the connection (subscribe() calls it too). */
  connect() {
    if (this.state === 'connecting' || this.state === 'connected') return;
    clearTimeout(this.timer);
    this.setState('connecting');
    this.open().catch((err) => this.lost(0, String(err?.message ?? err), true));
  }

  async open() {
    const token = this.opts.getToken ? await this.opts.getToken() : this.opts.token;
    if (this.state !== 'connecting') return;
    if (this.useSSE || typeof WebSocket === 'undefined') {
      this.useSSE = true;
      this.token = token;
      this.setState('connected', { transport: 'sse' });
      this.attempt = 0;
      for (const sub of this.subs.values()) this.openSSE(sub);
      return;
    }
    const u = new URL('v1/ws', this.base);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(u);
    this.ws = ws;
    let opened = false;
    ws.onopen = async () => {
      opened = true;
      this.wsWorked = true;
      try {
        this.session = await this.command('connect', token ? { token } : {});
      } catch (err) {
        ws.close();
        this.lost(err.code ?? 0, err.message, !FINAL.has(err.code));
        return;
      }
      this.attempt = 0;
      this.setState('connected', { transport: 'websocket', session: this.session });
      for (const sub of this.subs.values()) this.sendSubscribe(sub);
    };
    ws.onmessage = (e) => {
      for (const line of String(e.data).split('\n')) {
        if (line) this.handle(JSON.parse(line));
      }
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      // In auto mode, a WebSocket that never once opened, twice, is taken as blocked (by a
      // proxy, say): SSE from then on. One that opened before is a server away: retry it.
      if (!opened && !this.wsWorked && this.opts.transport === 'auto' && this.attempt >= 1) this.useSSE = true;
      this.lost(e.code, e.reason, !FINAL.has(e.code));
    };
  }

  /** The connection is gone: fail what waits, and reconnect unless told not to. */
  lost(code, reason, reconnect) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new SwitchboardError(code || 0, reason || 'disconnected'));
    }
    this.pending.clear();
    if (this.state === 'closed') return;
    if (!reconnect) {
      this.setState('closed', { code, reason });
      return;
    }
    this.setState('disconnected', { code, reason });
    // Full jitter: a server restart does not bring every client back in the same instant.
    const cap = Math.min(this.opts.maxDelay, this.opts.minDelay * 2 ** this.attempt);
    const delay = Math.random() * cap;
    this.attempt++;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  handle(msg) {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.error) p.reject(new SwitchboardError(msg.error.code, msg.error.message));
      else p.resolve(msg.result ?? {});
      return;
    }
    switch (msg.push) {
      case 'pub': this.subs.get(msg.channel)?.publication(msg); break;
      case 'join': this.subs.get(msg.channel)?.emit('join', msg.info); break;
      case 'leave': this.subs.get(msg.channel)?.emit('leave', msg.info); break;
      case 'ping': this.send({ method: 'pong' }); break;
      case 'disconnect': this.emit('disconnect', msg); break;
    }
  }

  send(cmd) {
    if (this.ws?.readyState === 1) this.ws.send(JSON.stringify(cmd));
  }

  /**
   * Sends one command and resolves with its result (docs/protocol.md, "Commands").
   * @param {string} method @param {object} [params] @returns {Promise<any>}
   */
  command(method, params) {
    if (this.useSSE) return Promise.reject(new SwitchboardError(0, `${method} needs the WebSocket transport`));
    if (!this.ws || this.ws.readyState !== 1) return Promise.reject(new SwitchboardError(0, 'not connected'));
    const id = this.nextID++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SwitchboardError(0, `${method}: no answer within ${this.opts.timeout} ms`));
      }, this.opts.timeout);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ id, method, params });
    });
  }

  /** Waits until connected (at most opts.timeout), then sends the command. */
  async request(method, params) {
    if (this.state !== 'connected') {
      this.connect();
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => { off(); reject(new SwitchboardError(0, `${method}: not connected within ${this.opts.timeout} ms`)); }, this.opts.timeout);
        const off = this.on('state', ({ state, reason }) => {
          if (state === 'connected') { clearTimeout(timer); off(); resolve(); }
          if (state === 'closed') { clearTimeout(timer); off(); reject(new SwitchboardError(0, reason || 'closed')); }
        });
      });
    }
    return this.command(method, params);
  }

  /**
   * Subscribes to channel; the subscription survives reconnects and recovers what it missed.
   * @param {string} channel @param {SubscriptionHandlers} [handlers] @returns {Subscription}
   */
  subscribe(channel, handlers = {}) {
    if (this.subs.has(channel)) throw new SwitchboardError(105, `already subscribed to ${channel}`);
    const sub = new Subscription(this, channel);
    for (const [event, fn] of Object.entries(handlers)) sub.on(event, fn);
    this.subs.set(channel, sub);
    if (this.state === 'connected') {
      if (this.useSSE) this.openSSE(sub);
      else this.sendSubscribe(sub);
    } else {
      this.connect();
    }
    return sub;
  }

  async sendSubscribe(sub) {
    const params = { channel: sub.channel };
    if (sub.position) params.since = sub.position;
    let res;
    try {
      res = await this.command('subscribe', params);
    } catch (err) {
      if (err.code === 105 || !sub.active) return; // already subscribed, or given up meanwhile
      if (err.code) sub.emit('error', err); // refused by the server; a lost connection retries
      return;
    }
    if (!sub.active) return;
    const pubs = (res.publications ?? []).map((p) => ({ channel: sub.channel, ...p }));
    sub.subscribed({ channel: sub.channel, offset: res.offset, epoch: res.epoch, recoverable: res.recoverable, recovered: !!res.recovered }, pubs);
  }

  openSSE(sub) {
    if (sub.es) return;
    const u = new URL('v1/sse', this.base);
    u.searchParams.set('channel', sub.channel);
    if (this.token) u.searchParams.set('token', this.token);
    if (sub.position && sub.position.epoch) u.searchParams.set('last_event_id', `${sub.position.epoch}:${sub.position.offset}`);
    const es = new EventSource(u);
    sub.es = es;
    es.addEventListener('subscribed', (e) => {
      const s = JSON.parse(e.data);
      // The publications it recovered follow as pub events.
      sub.subscribed({ channel: sub.channel, offset: s.offset, epoch: s.epoch, recoverable: s.recoverable, recovered: !!s.recovered }, []);
    });
    es.addEventListener('pub', (e) => sub.publication(JSON.parse(e.data)));
    es.addEventListener('join', (e) => sub.emit('join', JSON.parse(e.data).info));
    es.addEventListener('leave', (e) => sub.emit('leave', JSON.parse(e.data).info));
    es.addEventListener('disconnect', (e) => this.emit('disconnect', JSON.parse(e.data)));
    // EventSource reconnects by itself, with Last-Event-ID; a refusal (4xx) closes it for good.
    es.onerror = () => {
      if (es.readyState === 2 && sub.active) sub.emit('error', new SwitchboardError(0, `SSE stream for ${sub.channel} was refused`));
    };
  }

  /** @param {string} channel @param {any} data @returns {Promise<Position>} */
  publish(channel, data) { return this.request('publish', { channel, data }); }

  /** @param {string} channel @returns {Promise<Record<string, ClientInfo>>} */
  async presence(channel) { return (await this.request('presence', { channel })).presence; }

  /** @param {string} channel @returns {Promise<{num_clients: number, num_users: number}>} */
  presenceStats(channel) { return this.request('presence_stats', { channel }); }

  /**
   * @param {string} channel @param {{limit?: number, since?: Position}} [opts]
   * @returns {Promise<{publications: Publication[], offset: number, epoch: string}>}
   */
  history(channel, opts = {}) { return this.request('history', { channel, ...opts }); }

  /** Closes the connection for good; subscriptions end. */
  close() {
    clearTimeout(this.timer);
    this.setState('closed', { reason: 'closed by the app' });
    for (const sub of this.subs.values()) if (sub.es) sub.es.close();
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(1000); }
    this.lost(1000, 'closed by the app', false);
  }
}
