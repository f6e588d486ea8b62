// The WebRTC demo: a DataChannel between two tabs, signaled through rondevu G4 (docs/signal.md,
// and the G4 wire format: POST /rpc, Ed25519-signed calls). Offers carry the complete SDP,
// candidates included (ICE gathering finishes before publishing), so no candidate trickles.
const $ = (id) => document.getElementById(id);
let rpcURL = '/rondevu/v4/rpc';
let keys = null;
let publicKey = '';
let pc = null;
let channel = null;

const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
const b64 = (bytes) => btoa(String.fromCharCode(...bytes));

// canonical is G4's canonical JSON: keys sorted (UTF-16 order), no whitespace, numbers and
// strings as JavaScript writes them.
function canonical(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
}

async function rpc(method, params, signed = true) {
  const call = { method, params };
  if (signed) {
    const timestamp = Date.now();
    const nonce = crypto.randomUUID();
    const message = `${timestamp}:${nonce}:${method}:${canonical(params ?? {})}`;
    const sig = new Uint8Array(await crypto.subtle.sign('Ed25519', keys.privateKey, new TextEncoder().encode(message)));
    call.auth = { publicKey, timestamp, nonce, signature: b64(sig) };
  }
  const res = await fetch(rpcURL, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify([call]) });
  const [answer] = await res.json();
  if (!answer?.success) throw new Error(answer?.error ?? `HTTP ${res.status}`);
  return answer.result;
}

function say(text) { $('status').textContent = text; }

function log(text) {
  const li = document.createElement('li');
  li.textContent = text;
  $('log').append(li);
}

// gathered resolves once the connection's ICE candidates are all in its local description.
function gathered(conn) {
  if (conn.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => conn.addEventListener('icegatheringstatechange', () => { if (conn.iceGatheringState === 'complete') resolve(); }));
}

function wire(dc) {
  channel = dc;
  dc.onopen = () => { say('connected, peer to peer'); $('chat').hidden = false; log('— channel open —'); };
  dc.onmessage = (e) => log('them: ' + e.data);
  dc.onclose = () => say('the channel closed');
}

async function identity() {
  if (keys) return;
  keys = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
  publicKey = hex(new Uint8Array(await crypto.subtle.exportKey('raw', keys.publicKey)));
}

$('room-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const tag = $('room').value;
  try {
    await identity();
    pc = new RTCPeerConnection();
    wire(pc.createDataChannel('demo'));
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const published = await rpc('publishOffer', { tags: [tag], offers: [{ sdp: pc.localDescription.sdp }], ttl: 300000 });
    const offerId = published.offers[0].offerId;
    say(`offer published under "${tag}"; waiting for an answer…`);
    let since = 0;
    for (;;) {
      let answers = [];
      try {
        ({ answers } = await rpc('poll', { since }));
      } catch (err) {
        // The node restarting or draining: keep polling (the offer is in the store).
        say(`waiting for an answer (the server said: ${err.message}; retrying)…`);
        await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
        continue;
      }
      const mine = answers.find((a) => a.offerId === offerId);
      if (mine) {
        await pc.setRemoteDescription({ type: 'answer', sdp: mine.sdp });
        say('answered; connecting…');
        return;
      }
      for (const a of answers) since = Math.max(since, a.answeredAt);
      await new Promise((r) => setTimeout(r, 1000));
    }
  } catch (err) {
    say('could not open the room: ' + err.message);
  }
});

$('join').addEventListener('click', async () => {
  const tag = $('room').value;
  try {
    await identity();
    const { offers } = await rpc('discover', { tags: [tag], limit: 100 }, false);
    if (!offers.length) { say(`no open offer under "${tag}": open the room in another tab first`); return; }
    const offer = offers[0]; // the newest
    pc = new RTCPeerConnection();
    pc.ondatachannel = (ev) => wire(ev.channel);
    await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    await rpc('answerOffer', { offerId: offer.offerId, sdp: pc.localDescription.sdp, matchedTags: [tag] });
    say('answer sent; connecting…');
  } catch (err) {
    say('could not join: ' + err.message);
  }
});

$('send').addEventListener('submit', (e) => {
  e.preventDefault();
  if (channel?.readyState !== 'open') return;
  channel.send($('text').value);
  log('me: ' + $('text').value);
  $('text').value = '';
});

fetch('../api/session').then((r) => r.json()).then((s) => { if (s.prefixes?.['signal.v4'] !== undefined) rpcURL = s.prefixes['signal.v4'] + '/rpc'; }).catch(() => {});
