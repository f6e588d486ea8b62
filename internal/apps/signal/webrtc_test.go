package signal_test

import (
	"encoding/json"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// signaler is what a WebRTC peer needs from a signaling API; one implementation per rondevu
// generation, each speaking only its wire format.
type signaler interface {
	offer(t *testing.T, sdp string) string                     // publish; returns the offer id
	discover(t *testing.T) (id, sdp string)                    // the answerer finds it
	answer(t *testing.T, id, sdp string)                       //
	waitAnswer(t *testing.T, id string) string                 // the offerer learns it (nil until then)
	send(t *testing.T, id string, c webrtc.ICECandidateInit)   // trickle one candidate
	receive(t *testing.T, id string) []webrtc.ICECandidateInit // the other side's new candidates
}

// loopbackAPI keeps ICE on 127.0.0.1 (deps doc §1).
func loopbackAPI() *webrtc.API {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

// peer is one side: a PeerConnection whose candidates go out through its signaler.
type peer struct {
	pc      *webrtc.PeerConnection
	sig     signaler
	mu      sync.Mutex
	id      string // the offer, once known
	pending []webrtc.ICECandidateInit
	opened  chan *webrtc.DataChannel
}

func newPeer(t *testing.T, sig signaler) *peer {
	pc, err := loopbackAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	p := &peer{pc: pc, sig: sig, opened: make(chan *webrtc.DataChannel, 1)}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.id == "" {
			p.pending = append(p.pending, c.ToJSON())
			return
		}
		p.sig.send(t, p.id, c.ToJSON())
	})
	return p
}

// known sets the offer id and sends the candidates gathered before it was known.
func (p *peer) known(t *testing.T, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.id = id
	for _, c := range p.pending {
		p.sig.send(t, id, c)
	}
	p.pending = nil
}

// pump adds the other side's candidates until stop closes.
func (p *peer) pump(t *testing.T, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		for _, c := range p.sig.receive(t, p.id) {
			if err := p.pc.AddICECandidate(c); err != nil {
				t.Errorf("add candidate: %v", err)
			}
		}
	}
}

// connect runs the whole exchange and proves the DataChannel carries a message both ways.
func connect(t *testing.T, host, guest signaler) {
	h, g := newPeer(t, host), newPeer(t, guest)
	dc, err := h.pc.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	fromGuest := make(chan string, 1)
	dc.OnOpen(func() { h.opened <- dc })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { fromGuest <- string(m.Data) })
	fromHost := make(chan string, 1)
	g.pc.OnDataChannel(func(d *webrtc.DataChannel) {
		d.OnOpen(func() { g.opened <- d })
		d.OnMessage(func(m webrtc.DataChannelMessage) { fromHost <- string(m.Data) })
	})

	offer, err := h.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	h.known(t, host.offer(t, offer.SDP))

	id, sdp := guest.discover(t)
	if err := g.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
	answer, err := g.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	guest.answer(t, id, answer.SDP)
	g.known(t, id)

	if err := h.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: host.waitAnswer(t, id)}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { h.pump(t, stop) })
	wg.Go(func() { g.pump(t, stop) })
	defer func() { close(stop); wg.Wait() }()

	hostDC, guestDC := next(t, h.opened), next(t, g.opened)
	if err := hostDC.SendText("hello from host"); err != nil {
		t.Fatal(err)
	}
	if got := next(t, fromHost); got != "hello from host" {
		t.Fatalf("guest got %q", got)
	}
	if err := guestDC.SendText("hello from guest"); err != nil {
		t.Fatal(err)
	}
	if got := next(t, fromGuest); got != "hello from guest" {
		t.Fatalf("host got %q", got)
	}
}

// waitFor polls f until it reports a value; the guard bounds it.
func waitFor[T any](t *testing.T, f func() (T, bool)) T {
	t.Helper()
	deadline := time.Now().Add(guard)
	for time.Now().Before(deadline) {
		if v, ok := f(); ok {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("signaling never delivered")
	var zero T
	return zero
}

// g2Signaler speaks G2: bearer credentials, topics, answers and candidates by polling.
type g2Signaler struct {
	p     g2Peer
	mu    sync.Mutex
	since int64
}

func (s *g2Signaler) offer(t *testing.T, sdp string) string {
	r := s.p.do(t, "POST", "/offers", map[string]any{"offers": []any{map[string]any{"sdp": sdp, "topics": []string{"webrtc"}, "ttl": 300000}}})
	want(t, r, 200)
	return r.obj(t)["offers"].([]any)[0].(map[string]any)["id"].(string)
}

func (s *g2Signaler) discover(t *testing.T) (string, string) {
	r := do(t, "GET", s.p.base+"/offers/by-topic/webrtc", nil)
	want(t, r, 200, `"returned":1`)
	o := r.obj(t)["offers"].([]any)[0].(map[string]any)
	return o["id"].(string), o["sdp"].(string)
}

func (s *g2Signaler) answer(t *testing.T, id, sdp string) {
	want(t, s.p.do(t, "POST", "/offers/"+id+"/answer", map[string]any{"sdp": sdp}), 200)
}

func (s *g2Signaler) waitAnswer(t *testing.T, id string) string {
	return waitFor(t, func() (string, bool) {
		var a struct {
			Answers []struct{ OfferID, SDP string }
		}
		_ = json.Unmarshal(s.p.do(t, "GET", "/offers/answers", nil).Body, &a)
		for _, x := range a.Answers {
			if x.OfferID == id {
				return x.SDP, true
			}
		}
		return "", false
	})
}

func (s *g2Signaler) send(t *testing.T, id string, c webrtc.ICECandidateInit) {
	want(t, s.p.do(t, "POST", "/offers/"+id+"/ice-candidates", map[string]any{"candidates": []any{c}}), 200)
}

func (s *g2Signaler) receive(t *testing.T, id string) []webrtc.ICECandidateInit {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.p.do(t, "GET", "/offers/"+id+"/ice-candidates?since="+strconv.FormatInt(s.since, 10), nil)
	var got struct {
		Candidates []struct {
			Candidate webrtc.ICECandidateInit
			CreatedAt int64
		}
	}
	_ = json.Unmarshal(r.Body, &got)
	var out []webrtc.ICECandidateInit
	for _, c := range got.Candidates {
		out = append(out, c.Candidate)
		s.since = max(s.since, c.CreatedAt)
	}
	return out
}

// g4Signaler speaks G4: signed RPC calls, tags, one poll for answers and candidates.
type g4Signaler struct {
	p     *g4Peer
	mu    sync.Mutex
	since int64
	cands []webrtc.ICECandidateInit
	ans   map[string]string
}

func (s *g4Signaler) offer(t *testing.T, sdp string) string {
	return call[published](t, s.p, "publishOffer", map[string]any{"tags": []string{"webrtc"}, "offers": []any{map[string]any{"sdp": sdp}}, "ttl": 300000}).Offers[0].OfferID
}

func (s *g4Signaler) discover(t *testing.T) (string, string) {
	r := s.p.batch(t, rpcCall{Method: "discover", Params: map[string]any{"tags": []string{"webrtc"}}})[0]
	var o struct{ OfferID, SDP string }
	if err := json.Unmarshal(r.Result, &o); err != nil || !r.Success {
		t.Fatalf("discover: %+v", r)
	}
	return o.OfferID, o.SDP
}

func (s *g4Signaler) answer(t *testing.T, id, sdp string) {
	call[map[string]any](t, s.p, "answerOffer", map[string]any{"offerId": id, "sdp": sdp, "matchedTags": []string{"webrtc"}})
}

// poll is the client's PollingManager step: answers and candidates in one call.
func (s *g4Signaler) poll(t *testing.T) {
	res := call[pollResult](t, s.p, "poll", map[string]any{"since": s.since})
	for _, a := range res.Answers {
		s.ans[a.OfferID] = a.SDP
		s.since = max(s.since, a.AnsweredAt)
	}
	for _, cs := range res.IceCandidates {
		for _, c := range cs {
			j, _ := json.Marshal(c.Candidate)
			var init webrtc.ICECandidateInit
			_ = json.Unmarshal(j, &init)
			s.cands = append(s.cands, init)
			s.since = max(s.since, c.CreatedAt)
		}
	}
}

func (s *g4Signaler) waitAnswer(t *testing.T, id string) string {
	return waitFor(t, func() (string, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.poll(t)
		sdp, ok := s.ans[id]
		return sdp, ok
	})
}

func (s *g4Signaler) send(t *testing.T, id string, c webrtc.ICECandidateInit) {
	call[map[string]any](t, s.p, "addIceCandidates", map[string]any{"offerId": id, "candidates": []any{c}})
}

func (s *g4Signaler) receive(t *testing.T, _ string) []webrtc.ICECandidateInit {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.poll(t)
	out := s.cands
	s.cands = nil
	return out
}

// g1Signaler speaks G1: sessions by code, candidates as JSON strings.
type g1Signaler struct {
	base, side string
	mu         sync.Mutex
	seen       int
}

func (s *g1Signaler) post(t *testing.T, path string, body any) response {
	return do(t, "POST", s.base+path, body, "Origin", "https://webrtc.example")
}

func (s *g1Signaler) offer(t *testing.T, sdp string) string {
	r := s.post(t, "/webrtc/offer", map[string]any{"peerId": "host", "offer": sdp})
	want(t, r, 200)
	return r.obj(t)["code"].(string)
}

func (s *g1Signaler) discover(t *testing.T) (string, string) {
	r := do(t, "GET", s.base+"/webrtc/sessions", nil, "Origin", "https://webrtc.example")
	want(t, r, 200)
	ss := r.obj(t)["sessions"].([]any)
	if len(ss) != 1 {
		t.Fatalf("sessions: %s", r.Body)
	}
	o := ss[0].(map[string]any)
	return o["code"].(string), o["offer"].(string)
}

func (s *g1Signaler) answer(t *testing.T, id, sdp string) {
	want(t, s.post(t, "/answer", map[string]any{"code": id, "side": "answerer", "answer": sdp}), 200)
}

func (s *g1Signaler) waitAnswer(t *testing.T, id string) string {
	return waitFor(t, func() (string, bool) {
		a, ok := s.post(t, "/poll", map[string]any{"code": id, "side": "offerer"}).obj(t)["answer"].(string)
		return a, ok
	})
}

func (s *g1Signaler) send(t *testing.T, id string, c webrtc.ICECandidateInit) {
	j, _ := json.Marshal(c)
	want(t, s.post(t, "/answer", map[string]any{"code": id, "side": s.side, "candidate": string(j)}), 200)
}

func (s *g1Signaler) receive(t *testing.T, id string) []webrtc.ICECandidateInit {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.post(t, "/poll", map[string]any{"code": id, "side": s.side}).obj(t)
	key := "answerCandidates"
	if s.side == "answerer" {
		key = "offerCandidates"
	}
	all, _ := m[key].([]any)
	var out []webrtc.ICECandidateInit
	for _, c := range all[min(s.seen, len(all)):] {
		var init webrtc.ICECandidateInit
		_ = json.Unmarshal([]byte(c.(string)), &init)
		out = append(out, init)
	}
	s.seen = len(all)
	return out
}

func TestWebRTCDataChannel(t *testing.T) {
	n := startNode(t, nil)
	t.Run("g2", func(t *testing.T) {
		base := n.URL + "/rondevu"
		connect(t, &g2Signaler{p: register(t, base)}, &g2Signaler{p: register(t, base)})
	})
	t.Run("g4", func(t *testing.T) {
		base := n.URL + "/rondevu/v4"
		connect(t, &g4Signaler{p: newG4Peer(base), ans: map[string]string{}}, &g4Signaler{p: newG4Peer(base), ans: map[string]string{}})
	})
	t.Run("g1", func(t *testing.T) {
		base := n.URL + "/rondevu/v1"
		connect(t, &g1Signaler{base: base, side: "offerer"}, &g1Signaler{base: base, side: "answerer"})
	})
}
