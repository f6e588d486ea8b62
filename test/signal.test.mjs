// Black-box test of the rondevu-compatible signaling surfaces (G2, G1, G4), written against
// the wire format with Node's fetch and crypto, as the real clients speak it (the client
// package is not on the npm registry here). Each generation walks two peers through
// register → offer → discover → answer → candidates both ways → connected, where
// "connected" means each side holds the other's description and every candidate the other
// sent. Answers and candidates also arrive pushed over the native WebSocket API (`ws`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { nativeClient } from './lib/native.mjs';

const base = process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080';

async function call(method, url, body, headers = {}) {
  const res = await fetch(url, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function ok(method, url, body, headers) {
  const r = await call(method, url, body, headers);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

// pushes subscribes to a native channel over /v1/ws and yields its publications' data.
async function pushes(channel) {
  const c = nativeClient(base);
  await c.opened;
  assert.ok((await c.call('connect', {})).result.client);
  assert.equal((await c.call('subscribe', { channel })).result.channel, channel);
  return { next: async () => (await c.next((m) => m.push === 'pub')).data, close: () => c.ws.close() };
}

// The client's bloom filter (G2): m = 8·bytes bits, k = 3 seeded FNV-1a over UTF-16 units.
function bloom(bytes, members) {
  const bits = new Uint8Array(bytes);
  for (const s of members) {
    for (let i = 0; i < 3; i++) {
      let h = (0x811c9dc5 ^ i) >>> 0;
      for (let j = 0; j < s.length; j++) { h ^= s.charCodeAt(j); h = Math.imul(h, 16777619) >>> 0; }
      const idx = h % (bytes * 8);
      bits[idx >> 3] |= 1 << (idx & 7);
    }
  }
  return Buffer.from(bits).toString('base64');
}

test('G2: register, topics, bloom discovery, answer, candidates both ways, push', async () => {
  const g2 = base + '/rondevu';
  const alice = await ok('POST', g2 + '/register');
  const bob = await ok('POST', g2 + '/register');
  assert.match(alice.peerId, /^[0-9a-f]{32}$/);
  assert.equal(alice.secret.length, 80);
  const auth = (p) => ({ Authorization: `Bearer ${p.peerId}:${p.secret}` });
  const alicePush = await pushes(alice.channel);
  const topic = 'bb-' + crypto.randomUUID();

  const created = await ok('POST', g2 + '/offers', { offers: [{ sdp: 'v=0 alice', topics: [topic], ttl: 300000 }] }, auth(alice));
  const offerId = created.offers[0].id;
  // Bob looks, first with a filter holding alice (nothing), then without.
  const hidden = await ok('GET', `${g2}/offers/by-topic/${topic}?${new URLSearchParams({ bloom: bloom(128, [alice.peerId]) })}`);
  assert.equal(hidden.offers.length, 0);
  const found = await ok('GET', `${g2}/offers/by-topic/${topic}?limit=10`);
  assert.equal(found.offers[0].id, offerId);
  assert.equal(found.offers[0].peerId, alice.peerId);
  const topics = await ok('GET', `${g2}/topics?startsWith=${topic}`);
  assert.deepEqual(topics.topics, [{ topic, activePeers: 1 }]);

  const answered = await ok('POST', `${g2}/offers/${offerId}/answer`, { sdp: 'v=0 bob' }, auth(bob));
  assert.equal(answered.answererId, bob.peerId);
  const pushedAnswer = await alicePush.next();
  assert.equal(pushedAnswer.type, 'answer');
  assert.equal(pushedAnswer.sdp, 'v=0 bob');

  const bobPush = await pushes(bob.channel);
  await ok('POST', `${g2}/offers/${offerId}/ice-candidates`, { candidates: [{ candidate: 'a1', sdpMid: '0', sdpMLineIndex: 0 }] }, auth(alice));
  await ok('POST', `${g2}/offers/${offerId}/ice-candidates`, { candidates: [{ candidate: 'b1', sdpMid: '0', sdpMLineIndex: 0 }] }, auth(bob));
  assert.equal((await bobPush.next()).candidates[0].candidate.candidate, 'a1');
  assert.equal((await alicePush.next()).candidates[0].candidate.candidate, 'b1');

  // Connected, by polling as the 0.7 client does.
  const answers = await ok('GET', g2 + '/offers/answers', undefined, auth(alice));
  assert.equal(answers.answers[0].sdp, 'v=0 bob');
  const forBob = await ok('GET', `${g2}/offers/${offerId}/ice-candidates?since=0`, undefined, auth(bob));
  const forAlice = await ok('GET', `${g2}/offers/${offerId}/ice-candidates`, undefined, auth(alice));
  assert.deepEqual(forBob.candidates.map((c) => [c.candidate.candidate, c.role, c.peerId]), [['a1', 'offerer', alice.peerId]]);
  assert.deepEqual(forAlice.candidates.map((c) => [c.candidate.candidate, c.role, c.peerId]), [['b1', 'answerer', bob.peerId]]);

  const bad = await call('POST', g2 + '/offers', { offers: [] }, auth(alice));
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /offers \(must be non-empty array\)/);
  assert.equal((await call('GET', g2 + '/offers/mine')).status, 401);
  alicePush.close(); bobPush.close();
});

test('G1: origin-bucketed sessions, answer, candidates both ways', async () => {
  const g1 = base + '/rondevu/v1';
  const h = { Origin: 'https://bb.example' };
  const topic = 'bb-' + crypto.randomUUID();
  const { code, channel } = await ok('POST', `${g1}/${topic}/offer`, { peerId: 'alice', offer: 'v=0 a' }, h);
  const push = await pushes(channel);
  await ok('POST', g1 + '/answer', { code, side: 'offerer', candidate: JSON.stringify({ candidate: 'a1' }) }, h);
  const { sessions } = await ok('GET', `${g1}/${topic}/sessions`, undefined, h);
  assert.equal(sessions[0].code, code);
  assert.deepEqual(sessions[0].offerCandidates, [JSON.stringify({ candidate: 'a1' })]);
  assert.equal((await ok('GET', `${g1}/${topic}/sessions`, undefined, { Origin: 'https://other.example' })).sessions.length, 0);

  await ok('POST', g1 + '/answer', { code, side: 'answerer', answer: 'v=0 b' }, h);
  await ok('POST', g1 + '/answer', { code, side: 'answerer', candidate: 'b1' }, h);
  assert.equal((await push.next()).type, 'candidate');
  assert.equal((await push.next()).answer, 'v=0 b');
  const offerer = await ok('POST', g1 + '/poll', { code, side: 'offerer' }, h);
  assert.equal(offerer.answer, 'v=0 b');
  assert.deepEqual(offerer.answerCandidates, ['b1']);
  const answerer = await ok('POST', g1 + '/poll', { code, side: 'answerer' }, h);
  assert.equal(answerer.offer, 'v=0 a');
  assert.equal((await call('POST', g1 + '/poll', { code: 'nope', side: 'offerer' }, h)).status, 404);
  push.close();
});

// The G4 client's canonical JSON: sorted keys, no spaces, undefined rendered as a bare word.
function canonical(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
}

function identity() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('hex');
  const sign = (method, params) => {
    const timestamp = Date.now();
    const nonce = crypto.randomUUID();
    const msg = `${timestamp}:${nonce}:${method}:${canonical(params || {})}`;
    return { publicKey: pub, timestamp, nonce, signature: crypto.sign(null, Buffer.from(msg), privateKey).toString('base64') };
  };
  return { pub, sign };
}

async function rpc(calls, headers) {
  const out = await ok('POST', base + '/rondevu/v4/rpc', calls, headers);
  assert.equal(out.length, calls.length);
  return out;
}

async function signed(id, method, params) {
  const [r] = await rpc([{ method, params, auth: id.sign(method, params) }]);
  assert.ok(r.success, `${method}: ${r.error}`);
  return r.result;
}

test('G4: signed RPC, tag discovery, answer, candidates both ways, poll, push', async () => {
  const host = identity();
  const guest = identity();
  const tag = 'bb-' + crypto.randomUUID().slice(0, 8);
  const { channel } = await signed(host, 'getPushChannel', {});
  const push = await pushes(channel);

  const pub = await signed(host, 'publishOffer', { tags: [tag], offers: [{ sdp: 'v=0 host' }], ttl: 300000 });
  const offerId = pub.offers[0].offerId;
  const [page, counts] = await rpc([
    { method: 'discover', params: { tags: [tag], limit: 10 } },
    { method: 'countOffersByTags', params: { tags: [tag] } },
  ]);
  assert.equal(page.result.offers[0].offerId, offerId);
  assert.equal(counts.result.counts[tag], 1);

  await signed(guest, 'answerOffer', { offerId, sdp: 'v=0 guest', matchedTags: [tag] });
  assert.equal((await push.next()).answererPublicKey, guest.pub);
  await signed(host, 'addIceCandidates', { offerId, candidates: [{ candidate: 'h1', sdpMid: '0', sdpMLineIndex: 0 }] });
  await signed(guest, 'addIceCandidates', { offerId, candidates: [{ candidate: 'g1', sdpMid: '0', sdpMLineIndex: 0 }] });
  assert.equal((await push.next()).candidates[0].candidate.candidate, 'g1');

  const hostPoll = await signed(host, 'poll', { since: 0 });
  assert.equal(hostPoll.answers[0].sdp, 'v=0 guest');
  assert.deepEqual(hostPoll.iceCandidates[offerId].map((c) => [c.candidate.candidate, c.role, c.publicKey]), [['g1', 'answerer', guest.pub]]);
  const guestPoll = await signed(guest, 'poll', { since: 0 });
  assert.deepEqual(guestPoll.iceCandidates[offerId].map((c) => c.candidate.candidate), ['h1']);

  // The older client: credentials in headers, one authenticated call per request.
  const a = host.sign('getOfferAnswer', { offerId });
  const [viaHeaders] = await rpc([{ method: 'getOfferAnswer', params: { offerId } }],
    { 'X-PublicKey': a.publicKey, 'X-Timestamp': String(a.timestamp), 'X-Nonce': a.nonce, 'X-Signature': a.signature });
  assert.ok(viaHeaders.success, viaHeaders.error);
  assert.equal(viaHeaders.result.sdp, 'v=0 guest');

  // Replays and strangers are refused; a bad envelope is a 400 array.
  const replay = host.sign('poll', { since: 0 });
  assert.ok((await rpc([{ method: 'poll', params: { since: 0 }, auth: replay }]))[0].success);
  const [again] = await rpc([{ method: 'poll', params: { since: 0 }, auth: replay }]);
  assert.equal(again.errorCode, 'INVALID_CREDENTIALS');
  const stranger = identity();
  const inject = { offerId, candidates: [{ candidate: 'evil' }] };
  const [refused] = await rpc([{ method: 'addIceCandidates', params: inject, auth: stranger.sign('addIceCandidates', inject) }]);
  assert.equal(refused.errorCode, 'NOT_AUTHORIZED');
  const notArray = await call('POST', base + '/rondevu/v4/rpc', { method: 'poll' });
  assert.equal(notArray.status, 400);
  assert.equal(notArray.body[0].error, 'Request must be an array of RPC calls');
  push.close();
});
