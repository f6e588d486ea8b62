// Package hub is Switchboard's realtime core: which local connections are subscribed to which
// channels, fan-out of publications, presence and recovery from history. It knows nothing of
// any app's wire format: subscribers receive Events and encode them with their own Encoding,
// once per event whatever the number of subscribers.
//
// Lock order (a lock may be taken while holding the ones above it, never the reverse):
//
//	Hub.interest[stripe]     syncInterest; calls the broker, then reads the hub
//	broker stream lock       Memory.Publish holds it through fan-out, for offset order
//	hubShard.mu              channel lookup; released before channel.mu is awaited in fanout
//	channel.mu (R during fan-out, W in add/remove)
//	Subscription.mu          per delivery; released before Subscriber.Deliver
//	Queue.mu                 inside Deliver; wake() must not block
//
// So the broker is never called while a hub shard, channel or subscription lock is held:
// Subscribe and Unsubscribe call it only from syncInterest, and presence and join/leave after
// releasing. Subscriber.Deliver and Gap run under the channel's read lock: they must not
// block, nor subscribe or unsubscribe (which take that lock for writing).
package hub

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sort"
	"sync"

	"github.com/switchboard/switchboard/internal/broker"
	"github.com/switchboard/switchboard/internal/metrics"
	"github.com/switchboard/switchboard/internal/pubsub"
)

// Subscriber is the receiving end of a subscription: a connection of some transport.
type Subscriber interface {
	// Deliver hands over an event. It must not block: a subscriber that cannot keep up drops
	// itself (disconnects as slow), it never slows the channel.
	Deliver(ev *Event)
	// Gap is called when a publication arrives after a missing offset (a broker that lost
	// one). The subscriber should disconnect so that the client recovers.
	Gap(channel string)
}

// Client is a connection the hub can find by user, to disconnect it.
type Client interface {
	ID() string
	User() string
	// Disconnect closes the connection with a protocol code and reason.
	Disconnect(code int, reason string)
}

// Hub ties local subscribers to the broker.
type Hub struct {
	broker   broker.Broker
	presence broker.PresenceManager
	log      *slog.Logger
	seed     maphash.Seed
	shards   [hubShards]hubShard
	// interest serialises, per channel stripe, telling the broker whether this node has
	// local subscribers (see syncInterest).
	interest [hubShards]sync.Mutex

	clientsMu sync.Mutex
	clients   map[string]Client            // by client id
	byUser    map[string]map[string]Client // user → client id → client
}

const hubShards = 64

type hubShard struct {
	mu       sync.Mutex
	channels map[string]*channel
}

// channel holds one channel's local subscriptions; fan-out reads it under RLock.
type channel struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
}

var _ broker.Handler = (*Hub)(nil)

// New returns a hub over the given engines. Call Run before use.
func New(b broker.Broker, p broker.PresenceManager, log *slog.Logger) *Hub {
	h := &Hub{
		broker: b, presence: p, log: log, seed: maphash.MakeSeed(),
		clients: map[string]Client{}, byUser: map[string]map[string]Client{},
	}
	for i := range h.shards {
		h.shards[i].channels = map[string]*channel{}
	}
	return h
}

// Run connects the hub to its broker.
func (h *Hub) Run() error {
	if err := h.broker.Run(h); err != nil {
		return fmt.Errorf("hub: start broker: %w", err)
	}
	return nil
}

func (h *Hub) shard(ch string) *hubShard {
	return &h.shards[maphash.String(h.seed, ch)%hubShards]
}

func (h *Hub) channel(ch string) *channel {
	sh := h.shard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.channels[ch]
}

// HandlePublication fans a publication out to the local subscribers of ch.
func (h *Hub) HandlePublication(ch string, pub *pubsub.Publication, sp pubsub.StreamPosition) {
	metrics.Publications.Inc()
	h.fanout(ch, &Event{Kind: KindPublication, Channel: ch, Pub: pub, Epoch: sp.Epoch})
}

// HandleJoin fans a join event out.
func (h *Hub) HandleJoin(ch string, info *pubsub.ClientInfo) {
	h.fanout(ch, &Event{Kind: KindJoin, Channel: ch, Info: info})
}

// HandleLeave fans a leave event out.
func (h *Hub) HandleLeave(ch string, info *pubsub.ClientInfo) {
	h.fanout(ch, &Event{Kind: KindLeave, Channel: ch, Info: info})
}

func (h *Hub) fanout(ch string, ev *Event) {
	c := h.channel(ch)
	if c == nil {
		return
	}
	c.mu.RLock()
	n := 0
	for s := range c.subs {
		if s.deliver(ev) {
			n++
		}
	}
	c.mu.RUnlock()
	metrics.Deliveries.Add(float64(n))
}

// SubscribeOptions shape one subscription.
type SubscribeOptions struct {
	// Recover asks for the publications after this position.
	Recover *pubsub.StreamPosition
	// RecoveryMax caps the publications one recovery returns; more missed means not recovered.
	RecoveryMax int
	Presence    bool
	JoinLeave   bool
	MaxPresence int
	Info        *pubsub.ClientInfo
	// NoHistory: the channel keeps no history, so its publications are unsequenced and
	// there is no stream position to read (nor anything to recover).
	NoHistory bool
}

// SubscribeResult is what the client is told on subscribing.
type SubscribeResult struct {
	Position pubsub.StreamPosition
	// Recovered is true when Publications hold exactly everything after opts.Recover; when it
	// is false Publications is empty: a partial replay is never passed off as complete.
	Recovered    bool
	Publications []*pubsub.Publication
}

// Subscription is one subscriber in one channel.
type Subscription struct {
	channel string
	sub     Subscriber
	opts    SubscribeOptions
	listed  bool // in presence

	mu         sync.Mutex
	recovering bool     // events wait in buf until the subscribe reply is sent
	buf        []*Event // bounded by maxRecoveryBuffer
	last       uint64   // newest offset the subscriber has, or was told it is past
	epoch      string   // the stream epoch last belongs to
	closed     bool
}

// maxRecoveryBuffer bounds the events held while a subscribe reply is being prepared.
const maxRecoveryBuffer = 10000

// verdict is what a subscription does with one event.
type verdict uint8

const (
	drop verdict = iota // the subscriber has it already, or the subscription is dead
	pass                // hand it over
	gap                 // the stream has a hole here: the subscription dies, the client recovers
)

// admit applies the subscription's position rules to ev, for live and buffered events alike;
// s.mu is held.
func (s *Subscription) admit(ev *Event) verdict {
	if s.closed {
		return drop
	}
	if ev.Kind != KindPublication || ev.Pub.Offset == 0 {
		// Events and unsequenced publications (a channel without history) have no place in
		// the stream to check.
		return pass
	}
	off, recoverable := ev.Pub.Offset, s.opts.Recover != nil
	if ev.Epoch != s.epoch {
		// The stream was lost and begun anew. A recovering client must learn it (its
		// position is void); any other subscriber simply follows the new stream.
		if recoverable {
			s.closed = true
			return gap
		}
		s.epoch, s.last = ev.Epoch, off-1
	}
	switch {
	case off <= s.last:
		return drop
	case off != s.last+1 && recoverable:
		s.closed = true
		return gap
	}
	s.last = off
	return pass
}

// act carries out v outside the lock; it reports whether ev was delivered.
func (s *Subscription) act(v verdict, ev *Event) bool {
	switch v {
	case pass:
		s.sub.Deliver(ev)
		return true
	case gap:
		s.sub.Gap(s.channel)
	}
	return false
}

// deliver passes ev on unless the subscriber already has it; it reports whether it did.
// While the subscribe answer is prepared, events wait in a bounded buffer.
func (s *Subscription) deliver(ev *Event) bool {
	s.mu.Lock()
	if s.recovering && !s.closed {
		if len(s.buf) < maxRecoveryBuffer {
			s.buf = append(s.buf, ev)
			s.mu.Unlock()
			return false
		}
		s.closed = true
		s.mu.Unlock()
		s.sub.Gap(s.channel)
		return false
	}
	v := s.admit(ev)
	s.mu.Unlock()
	return s.act(v, ev)
}

// Subscribe adds sub to ch and returns what the client should be told. Live events wait until
// the caller has sent that answer and calls Ready, so the client sees its subscribe reply, then
// the recovered publications, then live ones, in offset order with no gap and no duplicate.
func (h *Hub) Subscribe(ctx context.Context, ch string, sub Subscriber, opts SubscribeOptions) (*Subscription, SubscribeResult, error) {
	s := &Subscription{channel: ch, sub: sub, opts: opts, recovering: true}
	h.add(s)
	// Every subscriber, not only the first, waits until the broker knows of local interest:
	// the first one's call may still be under way, and until it completes a broker that
	// routes by interest would not deliver here.
	if err := h.syncInterest(ch); err != nil {
		h.Unsubscribe(ctx, s)
		return nil, SubscribeResult{}, fmt.Errorf("hub: broker subscribe %s: %w", ch, err)
	}
	var res SubscribeResult
	if !opts.NoHistory {
		var err error
		if res, err = h.position(ctx, ch, opts); err != nil {
			h.Unsubscribe(ctx, s)
			return nil, SubscribeResult{}, err
		}
	}
	s.mu.Lock()
	s.last, s.epoch = res.Position.Offset, res.Position.Epoch
	s.mu.Unlock()
	if opts.Presence {
		err := h.presence.AddPresence(ctx, ch, opts.Info.Client, opts.Info, opts.MaxPresence)
		switch {
		case err == nil:
			s.listed = true
		case errors.Is(err, pubsub.ErrPresenceFull):
			h.log.Debug("presence full; client subscribed unlisted", "channel", ch, "client", opts.Info.Client)
		default:
			h.Unsubscribe(ctx, s)
			return nil, SubscribeResult{}, fmt.Errorf("hub: add presence %s: %w", ch, err)
		}
	}
	if s.listed && opts.JoinLeave {
		if err := h.broker.PublishJoin(ctx, ch, opts.Info); err != nil {
			h.log.Warn("publish join", "channel", ch, "err", err)
		}
	}
	return s, res, nil
}

// position reads the stream and decides whether the client's position can be recovered.
func (h *Hub) position(ctx context.Context, ch string, opts SubscribeOptions) (SubscribeResult, error) {
	f := pubsub.HistoryFilter{}
	if opts.Recover != nil {
		f.Since = opts.Recover
		f.Limit = opts.RecoveryMax + 1
	}
	hr, err := h.broker.History(ctx, ch, f)
	if err != nil {
		return SubscribeResult{}, fmt.Errorf("hub: read stream %s: %w", ch, err)
	}
	res := SubscribeResult{Position: hr.Position}
	if r := opts.Recover; r != nil && r.Epoch == hr.Position.Epoch && r.Offset <= hr.Position.Offset {
		missed := hr.Position.Offset - r.Offset
		pubs := hr.Publications
		if missed == 0 {
			res.Recovered = true
		} else if missed <= uint64(opts.RecoveryMax) && uint64(len(pubs)) == missed && pubs[0].Offset == r.Offset+1 {
			res.Recovered = true
			res.Publications = pubs
		}
	}
	return res, nil
}

// Ready releases the events that arrived while the subscribe answer was prepared.
func (s *Subscription) Ready() {
	for {
		s.mu.Lock()
		buf := s.buf
		s.buf = nil
		if len(buf) == 0 {
			s.recovering = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		for _, ev := range buf {
			s.mu.Lock()
			v := s.admit(ev)
			s.mu.Unlock()
			s.act(v, ev)
		}
	}
}

// syncInterest tells the broker whether this node has local subscribers of ch, as the hub
// stands now. It runs after every subscribe and every last-unsubscribe, serialised per
// channel stripe, so whichever runs last reads the latest state: a concurrent last-unsubscribe
// and first-subscribe cannot leave the broker with the wrong answer. (The broker is not called
// under the hub's locks: Publish takes the broker's lock, then the hub's.)
func (h *Hub) syncInterest(ch string) error {
	l := &h.interest[maphash.String(h.seed, ch)%hubShards]
	l.Lock()
	defer l.Unlock()
	if h.channel(ch) != nil {
		return h.broker.Subscribe(ch)
	}
	return h.broker.Unsubscribe(ch)
}

// add registers s.
func (h *Hub) add(s *Subscription) {
	sh := h.shard(s.channel)
	sh.mu.Lock()
	c := sh.channels[s.channel]
	if c == nil {
		c = &channel{subs: map[*Subscription]struct{}{}}
		sh.channels[s.channel] = c
		metrics.Channels.Inc()
	}
	// Take the channel lock before releasing the shard lock, so a concurrent remove cannot
	// drop the channel between the two.
	c.mu.Lock()
	sh.mu.Unlock()
	c.subs[s] = struct{}{}
	c.mu.Unlock()
}

// remove unregisters s and reports whether the channel has no local subscription left.
func (h *Hub) remove(s *Subscription) bool {
	sh := h.shard(s.channel)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.channels[s.channel]
	if c == nil {
		return false
	}
	c.mu.Lock()
	delete(c.subs, s)
	empty := len(c.subs) == 0
	c.mu.Unlock()
	if empty {
		delete(sh.channels, s.channel)
		metrics.Channels.Dec()
	}
	return empty
}

// Unsubscribe removes s; it is safe to call twice.
func (h *Hub) Unsubscribe(ctx context.Context, s *Subscription) {
	s.mu.Lock()
	s.closed = true
	s.buf = nil
	s.mu.Unlock()
	if h.remove(s) {
		if err := h.syncInterest(s.channel); err != nil {
			h.log.Warn("broker unsubscribe", "channel", s.channel, "err", err)
		}
	}
	if s.listed {
		s.listed = false
		if err := h.presence.RemovePresence(ctx, s.channel, s.opts.Info.Client); err != nil {
			h.log.Warn("remove presence", "channel", s.channel, "err", err)
		}
		if s.opts.JoinLeave {
			if err := h.broker.PublishLeave(ctx, s.channel, s.opts.Info); err != nil {
				h.log.Warn("publish leave", "channel", s.channel, "err", err)
			}
		}
	}
}

// Publish appends data to ch's stream and delivers it everywhere.
func (h *Hub) Publish(ctx context.Context, ch string, data []byte, opts pubsub.PublishOptions) (pubsub.StreamPosition, error) {
	sp, err := h.broker.Publish(ctx, ch, data, opts)
	if err != nil {
		return sp, fmt.Errorf("hub: publish %s: %w", ch, err)
	}
	return sp, nil
}

// History returns publications of ch (see pubsub.HistoryFilter).
func (h *Hub) History(ctx context.Context, ch string, f pubsub.HistoryFilter) (pubsub.HistoryResult, error) {
	return h.broker.History(ctx, ch, f)
}

// Join lists info.Client among ch's members (replacing what it listed before) without a
// subscription, for transports whose members receive through rooms of their own
// (socket.io): presence is cluster-wide all the same. max caps the members listed (0: no
// cap); past it the error is pubsub.ErrPresenceFull.
func (h *Hub) Join(ctx context.Context, ch string, info *pubsub.ClientInfo, max int) error {
	if err := h.presence.AddPresence(ctx, ch, info.Client, info, max); err != nil {
		return fmt.Errorf("hub: join %s: %w", ch, err)
	}
	return nil
}

// Leave removes client from ch's members.
func (h *Hub) Leave(ctx context.Context, ch, client string) error {
	if err := h.presence.RemovePresence(ctx, ch, client); err != nil {
		return fmt.Errorf("hub: leave %s: %w", ch, err)
	}
	return nil
}

// Presence returns ch's members.
func (h *Hub) Presence(ctx context.Context, ch string) (map[string]*pubsub.ClientInfo, error) {
	return h.presence.Presence(ctx, ch)
}

// PresenceStats counts ch's members.
func (h *Hub) PresenceStats(ctx context.Context, ch string) (pubsub.PresenceStats, error) {
	return h.presence.PresenceStats(ctx, ch)
}

// ChannelInfo is one active channel of this node.
type ChannelInfo struct {
	Name        string `json:"name"`
	Subscribers int    `json:"num_subscribers"`
}

// Channels lists the channels with local subscribers, sorted by name.
func (h *Hub) Channels() []ChannelInfo {
	var out []ChannelInfo
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for name, c := range sh.channels {
			c.mu.RLock()
			out = append(out, ChannelInfo{Name: name, Subscribers: len(c.subs)})
			c.mu.RUnlock()
		}
		sh.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// AddClient makes c findable by user.
func (h *Hub) AddClient(c Client) {
	h.clientsMu.Lock()
	defer h.clientsMu.Unlock()
	h.clients[c.ID()] = c
	if u := c.User(); u != "" {
		m := h.byUser[u]
		if m == nil {
			m = map[string]Client{}
			h.byUser[u] = m
		}
		m[c.ID()] = c
	}
}

// RemoveClient forgets c.
func (h *Hub) RemoveClient(c Client) {
	h.clientsMu.Lock()
	defer h.clientsMu.Unlock()
	delete(h.clients, c.ID())
	if u := c.User(); u != "" {
		if m := h.byUser[u]; m != nil {
			delete(m, c.ID())
			if len(m) == 0 {
				delete(h.byUser, u)
			}
		}
	}
}

// DisconnectUser closes every connection of user on this node and returns how many.
func (h *Hub) DisconnectUser(user string, code int, reason string) int {
	h.clientsMu.Lock()
	var cs []Client
	for _, c := range h.byUser[user] {
		cs = append(cs, c)
	}
	h.clientsMu.Unlock()
	for _, c := range cs {
		c.Disconnect(code, reason)
	}
	return len(cs)
}

// NumClients counts the clients registered on this node.
func (h *Hub) NumClients() int {
	h.clientsMu.Lock()
	defer h.clientsMu.Unlock()
	return len(h.clients)
}

// Nodes lists the cluster's live nodes as the broker knows them (this one included), or nil
// with a broker that has no cluster (the memory broker: this node alone).
func (h *Hub) Nodes() []string {
	if c, ok := h.broker.(interface{ Nodes() []string }); ok {
		nodes := c.Nodes()
		slices.Sort(nodes)
		return nodes
	}
	return nil
}
