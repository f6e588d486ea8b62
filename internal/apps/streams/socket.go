package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/metrics"
	"github.com/switchboard/switchboard/internal/pubsub"
	"github.com/switchboard/switchboard/internal/transport/ws"
)

// Hub channels of a stream: everything relayed, and the latest message of each kind a late
// viewer is given (history of one).
func liveChannel(id string) string       { return "twizzle:" + id }
func lastChannel(id, kind string) string { return "twizzle:" + id + ":last:" + kind }

// controlChannel tells every node that a stream ended.
const controlChannel = "twizzle:control"

// replayOrder is what a viewer gets on connect, in the original's order (A6).
var replayOrder = []string{"reset", "orientation", "move"}

// lastTTL keeps a stream's latest messages for late viewers.
const lastTTL = 24 * time.Hour

// peer is one socket of a stream.
type peer struct {
	a      *App
	conn   *ws.Conn
	id     string
	stream string
	sender bool
	limit  *rate.Limiter
	sub    *hub.Subscription

	// replayed holds, by kind, the kept copy a viewer was given on connect; the same message
	// arriving live (published while the viewer joined) is not sent twice. Emptied once live
	// messages pass those points, so the check then costs nothing.
	mu        sync.Mutex
	replayed  map[string]keptAt
	pending   atomic.Bool // replayed is not empty
	lastReset []byte      // trackingOrientation of the sender's previous message if it was a reset
}

func (a *App) socket(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !websocket.IsWebSocketUpgrade(r) {
		httpx.Error(w, http.StatusBadRequest, "a WebSocket upgrade is required")
		return
	}
	list, err := a.db.streams(r.Context(), id)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if len(list) == 0 {
		httpx.Error(w, http.StatusNotFound, "stream ID is unknown")
		return
	}
	user, ok := a.caller(w, r)
	if !ok {
		return
	}
	p := &peer{a: a, id: randomID("client_", 8), stream: id, sender: list[0].Owner != nil && user == list[0].Owner.ID}
	if p.sender && a.cfg.SenderRate > 0 {
		p.limit = rate.NewLimiter(rate.Limit(a.cfg.SenderRate), max(1, int(2*a.cfg.SenderRate)))
	}
	_, _ = a.ws.Accept(w, r, p, func(c *ws.Conn) {
		p.conn = c
		c.Value = p
		p.join()
	})
}

// join subscribes the socket, gives a viewer the stream's latest messages, and records a
// sender; it runs before the socket's first message is read.
func (p *peer) join() {
	a := p.a
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sub, _, err := a.hub.Subscribe(ctx, liveChannel(p.stream), p, hub.SubscribeOptions{NoHistory: true})
	if err != nil {
		a.log.Warn("stream subscribe", "stream", p.stream, "err", err)
		p.conn.Close(ws.CloseGoingAway, "try again")
		return
	}
	p.sub = sub
	if !p.sender {
		for _, kind := range replayOrder {
			h, err := a.hub.History(ctx, lastChannel(p.stream, kind), pubsub.HistoryFilter{Limit: 1})
			if err != nil || len(h.Publications) == 0 {
				continue
			}
			pub := h.Publications[len(h.Publications)-1]
			if p.replayed == nil {
				p.replayed = map[string]keptAt{}
			}
			p.replayed[kind] = keptAt{Kind: kind, Offset: pub.Offset, Epoch: h.Position.Epoch}
			p.pending.Store(true)
			p.conn.Send(pub.Data)
		}
	} else if err := a.db.senderJoined(ctx, p.id, p.stream, a.ms()); err != nil {
		a.log.Warn("sender joined", "stream", p.stream, "err", err)
	}
	a.mu.Lock()
	if a.local[p.stream] == nil {
		a.local[p.stream] = map[*peer]struct{}{}
	}
	a.local[p.stream][p] = struct{}{}
	a.mu.Unlock()
	sub.Ready()
	a.log.Info("stream socket", "stream", p.stream, "socket", p.id, "sender", p.sender)
}

// Deliver sends a relayed message; a sender does not get its own back.
func (p *peer) Deliver(ev *hub.Event) {
	if ev.Kind != hub.KindPublication || (ev.Pub.Info != nil && ev.Pub.Info.Client == p.id) {
		return
	}
	if p.pending.Load() && p.replayedAlready(ev.Pub.Info) {
		return
	}
	p.conn.Send(ev.Pub.Data)
}

// keptAt is where a relayed message's kept copy stands, carried in the relayed publication's
// client info, so a viewer can tell the message it was replayed from a newer, equal one.
type keptAt struct {
	Kind   string `json:"k"`
	Offset uint64 `json:"o"`
	Epoch  string `json:"e"`
}

// replayedAlready reports whether a live message is one the viewer was replayed; a newer one
// of the same kind ends the watch for that kind.
func (p *peer) replayedAlready(info *pubsub.ClientInfo) bool {
	var at keptAt
	if info == nil || len(info.Info) == 0 || json.Unmarshal(info.Info, &at) != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.replayed[at.Kind]
	if !ok {
		return false
	}
	delete(p.replayed, at.Kind)
	p.pending.Store(len(p.replayed) > 0)
	return r.Epoch == at.Epoch && at.Offset <= r.Offset
}

// Gap: a viewer missed a relayed message; it is live data, so it simply goes on.
func (p *peer) Gap(string) {}

// OnMessage relays a sender's text messages (spec A6 rules 2–8); viewers' are ignored.
func (p *peer) OnMessage(_ *ws.Conn, data []byte) {
	if !p.sender {
		return
	}
	if p.limit != nil && !p.limit.Allow() {
		metrics.Refused.WithLabelValues("stream_sender_rate").Inc()
		p.a.log.Debug("sender over its rate", "stream", p.stream)
		return
	}
	now := p.a.now()
	msg, ok := stamp(data, now)
	if !ok {
		return // not a JSON object: the original dropped primitives too
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kind := msg.event
	switch kind {
	case "move", "orientation":
		p.lastReset = nil
	case "reset":
		tracking := msg.tracking
		if p.lastReset != nil && bytes.Equal(p.lastReset, tracking) {
			p.a.log.Debug("reset dropped: the same as the sender's previous message", "stream", p.stream)
			return // the original's reset-loop guard
		}
		p.lastReset = tracking
		if tracking == nil {
			kind = "" // a reset without data is relayed, not kept for late viewers
		}
	default:
		kind = ""
		p.lastReset = nil
	}
	opts := pubsub.PublishOptions{Info: &pubsub.ClientInfo{Client: p.id}}
	if kind != "" {
		// Kept first, then relayed: a viewer joining in between gets it both ways, and the
		// kept copy's position in the relayed one lets it drop the second.
		sp, err := p.a.hub.Publish(ctx, lastChannel(p.stream, kind), msg.out, pubsub.PublishOptions{HistorySize: 1, HistoryTTL: lastTTL})
		if err != nil {
			p.a.log.Warn("keep latest", "stream", p.stream, "err", err)
		} else {
			opts.Info.Info, _ = json.Marshal(keptAt{Kind: kind, Offset: sp.Offset, Epoch: sp.Epoch})
		}
	}
	if _, err := p.a.hub.Publish(ctx, liveChannel(p.stream), msg.out, opts); err != nil {
		p.a.log.Warn("relay", "stream", p.stream, "err", err)
	}
}

// OnClose leaves the stream; a sender's leaving may start the stream's idle time.
func (p *peer) OnClose(_ *ws.Conn, code int, reason string) {
	a := p.a
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if p.sub != nil {
		a.hub.Unsubscribe(ctx, p.sub)
	}
	a.mu.Lock()
	delete(a.local[p.stream], p)
	if len(a.local[p.stream]) == 0 {
		delete(a.local, p.stream)
	}
	a.mu.Unlock()
	if p.sender {
		if err := a.db.senderLeft(ctx, p.id, p.stream, a.ms()); err != nil {
			a.log.Warn("sender left", "stream", p.stream, "err", err)
		}
	}
	a.log.Info("stream socket closed", "stream", p.stream, "socket", p.id, "sender", p.sender, "code", code, "reason", reason)
}

// localPeers returns this node's sender sockets and its count of viewers of each stream that
// has any.
func (a *App) localPeers() (senders []string, viewers map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	viewers = map[string]int{}
	for id, peers := range a.local {
		for p := range peers {
			if p.sender {
				senders = append(senders, p.id)
			} else {
				viewers[id]++
			}
		}
	}
	return senders, viewers
}

// message is a sender's object with the server's timestamps added.
type message struct {
	out      []byte
	event    string
	tracking []byte // data.trackingOrientation of a reset, as JSON; nil without data
}

// stamp parses a JSON object and re-encodes it with timestampUnixMS and timestampHuman set
// last, as the original's logger did (replacing fields of those names); the other members
// keep their order and bytes.
func stamp(data []byte, now time.Time) (message, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return message{}, false
	}
	var m message
	var b bytes.Buffer
	b.WriteByte('{')
	for dec.More() {
		t, err := dec.Token()
		key, isKey := t.(string)
		if err != nil || !isKey {
			return message{}, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return message{}, false
		}
		switch key {
		case "timestampUnixMS", "timestampHuman":
			continue
		case "event":
			_ = json.Unmarshal(v, &m.event)
		case "data":
			var d map[string]json.RawMessage
			if json.Unmarshal(v, &d) == nil && d != nil {
				m.tracking = d["trackingOrientation"]
				if m.tracking == nil {
					m.tracking = []byte("undefined")
				}
			}
		}
		kb, _ := json.Marshal(key)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(v)
		b.WriteByte(',')
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return message{}, false
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) != 0 {
		return message{}, false // trailing data
	}
	human, _ := json.Marshal(jsDate(now))
	b.WriteString(`"timestampUnixMS":` + strconv.FormatInt(now.UnixMilli(), 10) + `,"timestampHuman":`)
	b.Write(human)
	b.WriteByte('}')
	m.out = b.Bytes()
	return m, true
}

// Ending a stream: the node that finds it expired tells every node, each closes its sockets.

type endRelay struct{ a *App }

func (e endRelay) Deliver(ev *hub.Event) {
	if ev.Kind != hub.KindPublication {
		return
	}
	e.a.mu.Lock()
	local := e.a.local[string(ev.Pub.Data)]
	peers := make([]*peer, 0, len(local))
	for p := range local {
		peers = append(peers, p)
	}
	e.a.mu.Unlock()
	for _, p := range peers {
		p.conn.Close(websocket.CloseNormalClosure, "")
	}
}

func (endRelay) Gap(string) {}

func (a *App) watchEnds(ctx context.Context) error {
	sub, _, err := a.hub.Subscribe(ctx, controlChannel, endRelay{a}, hub.SubscribeOptions{NoHistory: true})
	if err != nil {
		return err
	}
	sub.Ready()
	a.ends = sub
	return nil
}

func (a *App) announceEnd(ctx context.Context, id string) {
	if _, err := a.hub.Publish(ctx, controlChannel, []byte(id), pubsub.PublishOptions{}); err != nil {
		a.log.Warn("announce stream end", "stream", id, "err", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
