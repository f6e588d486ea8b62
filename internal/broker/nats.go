package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard/switchboard/internal/metrics"
	"github.com/switchboard/switchboard/internal/pubsub"
)

// NATS is the cluster engine. Every node connects to the same NATS server (or cluster):
//
//   - A channel with history is a subject <prefix>.h.<channel> of one JetStream stream. A
//     publish is a compare-and-set on the subject's last stream sequence, so its offsets stay
//     contiguous whichever node publishes; offset, epoch and the previous message's sequence
//     travel in headers. The stream republishes every stored message to <prefix>.p.<channel>.
//   - Publications without history, and join and leave events, are plain core NATS messages
//     on <prefix>.p.<channel>: unsequenced (offset 0), never stored.
//   - A node subscribes to <prefix>.p.<channel> only while it has local subscribers. What it
//     receives out of order or misses (a NATS reconnect) it fetches from the stream by the
//     previous-sequence chain, so the hub sees each channel in offset order.
//   - Presence stays on the node holding the connection. Nodes announce themselves every
//     heartbeat; a presence read asks every live node and merges the answers, so a dead
//     node's members vanish with it.
//
// See docs/cluster.md for the design and its limits.
type NATS struct {
	opts NATSOptions
	log  *slog.Logger
	nc   *nats.Conn
	js   jetstream.JetStream
	// stream is the history stream; replaced (atomically) when it has to be created anew.
	stream atomic.Pointer[jetstream.Stream]

	handler Handler
	localPresence

	mu    sync.Mutex
	chans map[string]*natsChannel // channels with local subscribers
	nodes map[string]time.Time    // live nodes (heartbeat ids) → last heard
	// silent: nodes that missed a presence answer → when; not waited for until heard after
	silent map[string]time.Time
	pubs   *lru.Cache[string, *pubState]

	serverID   atomic.Value  // string: the NATS server this node is connected to
	restartSeq atomic.Uint64 // stream sequence before which an epoch must be broken (see Publish)

	stop chan struct{}
	done sync.WaitGroup
}

// NATSOptions configure the cluster engine.
type NATSOptions struct {
	URL    string
	Prefix string // subject prefix, e.g. "sb"
	// Stream names the JetStream history stream.
	Stream string
	// Replicas of the history stream (1 for a single NATS server, 3 for a NATS cluster).
	Replicas int
	// MaxHistory is the largest history size any channel uses: the stream keeps that many
	// messages per subject (plus one spare for an empty channel's marker).
	MaxHistory int
	// MetaTTL is how long an idle channel keeps its offset and epoch (the stream's max age).
	MetaTTL time.Duration
	// NewEpochOnRestart: after the NATS server restarts, every channel's next publish starts
	// a new epoch. JetStream acknowledges before it syncs to disk, so a host crash may have
	// lost the newest messages of a channel, and offsets would be reused. Turn it off with
	// replicated streams or sync_interval: always.
	NewEpochOnRestart bool
	// Heartbeat is how often a node announces itself; a node missing three is dead.
	Heartbeat time.Duration
	// PresenceWait bounds how long a presence read waits for the nodes' answers.
	PresenceWait time.Duration
	NodeID       string
	Log          *slog.Logger
}

var _ Broker = (*NATS)(nil)
var _ PresenceManager = (*NATS)(nil)

// Message headers (ours; NATS adds Nats-Sequence and friends).
const (
	hdrKind   = "Sb-Kind" // "j" join, "l" leave; absent: a publication
	hdrOffset = "Sb-Off"
	hdrEpoch  = "Sb-Ep"
	hdrPrev   = "Sb-Prev" // stream sequence of the channel's previous message (0: first)
	hdrKeep   = "Sb-Keep" // "size/ttl_ms" of the history this publish asked for
	hdrTime   = "Sb-Time" // unix ms at the publisher (display only; the TTL uses NATS' clock)
	hdrInfo   = "Sb-Info" // the publisher's or member's ClientInfo, JSON
	hdrMarker = "Sb-Mark" // an empty channel's epoch marker: no publication
)

// maxCASAttempts bounds the retries of a publish that lost the race for a channel's next
// offset to another node.
const maxCASAttempts = 100

// natsRTTBudget bounds one request to NATS made outside a caller's context (fills, checks).
const natsRTTBudget = 5 * time.Second

// NewNATS connects to NATS and makes sure the history stream exists with at least the
// configured per-channel history.
func NewNATS(ctx context.Context, o NATSOptions) (*NATS, error) {
	if o.Prefix == "" {
		o.Prefix = "sb"
	}
	if o.Stream == "" {
		o.Stream = strings.ToUpper(o.Prefix) + "_HIST"
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.MaxHistory <= 0 {
		o.MaxHistory = 100
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 5 * time.Second
	}
	if o.PresenceWait <= 0 {
		o.PresenceWait = 500 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	b := &NATS{
		opts: o, log: o.Log.With("broker", "nats"), localPresence: newLocalPresence(),
		chans: map[string]*natsChannel{}, nodes: map[string]time.Time{}, silent: map[string]time.Time{},
		stop: make(chan struct{}),
	}
	b.pubs, _ = lru.New[string, *pubState](8192)
	nc, err := nats.Connect(o.URL,
		nats.Name("switchboard "+o.NodeID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		// A publish while NATS is unreachable fails at once instead of being buffered and
		// sent late (out of order with what other nodes did meanwhile).
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if !nc.IsClosed() {
				b.log.Warn("nats disconnected; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { b.reconnected(nc) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				metrics.Broker.WithLabelValues("slow").Inc()
			}
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			b.log.Warn("nats error", "subject", subj, "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("nats broker: connect %s: %w", redactURL(o.URL), err)
	}
	b.nc = nc
	b.serverID.Store(nc.ConnectedServerId())
	if b.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats broker: jetstream: %w", err)
	}
	if err := b.ensureStream(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

// redactURL drops a password from a NATS URL before it is logged.
func redactURL(u string) string {
	if at := strings.LastIndex(u, "@"); at >= 0 {
		if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
			return u[:scheme+3] + "…" + u[at:]
		}
	}
	return u
}

// ensureStream creates the history stream or updates it, never shrinking what another node
// configured: nodes with different history sizes share one stream.
func (b *NATS) ensureStream(ctx context.Context) error {
	o := b.opts
	cfg := jetstream.StreamConfig{
		Name:              o.Stream,
		Description:       "Switchboard channel history",
		Subjects:          []string{o.Prefix + ".h.>"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: int64(o.MaxHistory + 1),
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxAge:            o.MetaTTL,
		Replicas:          o.Replicas,
		AllowDirect:       true,
		AllowRollup:       true,
		RePublish:         &jetstream.RePublish{Source: o.Prefix + ".h.>", Destination: o.Prefix + ".p.>"},
	}
	if s, err := b.js.Stream(ctx, o.Stream); err == nil {
		cur := s.CachedInfo().Config
		cfg.MaxMsgsPerSubject = max(cfg.MaxMsgsPerSubject, cur.MaxMsgsPerSubject)
		cfg.MaxAge = max(cfg.MaxAge, cur.MaxAge)
	}
	s, err := b.js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return fmt.Errorf("nats broker: history stream %s: %w", o.Stream, err)
	}
	b.stream.Store(&s)
	return nil
}

func (b *NATS) histSubject(ch string) string { return b.opts.Prefix + ".h." + subjectToken(ch) }
func (b *NATS) liveSubject(ch string) string { return b.opts.Prefix + ".p." + subjectToken(ch) }

// Run subscribes to the cluster's presence requests and heartbeats and starts the
// heartbeat and gap-check loops.
func (b *NATS) Run(h Handler) error {
	if b.handler != nil {
		return errors.New("nats broker: Run called twice")
	}
	b.handler = h
	if _, err := b.nc.Subscribe(b.opts.Prefix+".pres", b.answerPresence); err != nil {
		return fmt.Errorf("nats broker: subscribe presence: %w", err)
	}
	if _, err := b.nc.Subscribe(b.opts.Prefix+".node.*", b.heard); err != nil {
		return fmt.Errorf("nats broker: subscribe heartbeats: %w", err)
	}
	if err := b.nc.Flush(); err != nil {
		return fmt.Errorf("nats broker: flush: %w", err)
	}
	b.beat()
	b.done.Add(1)
	go b.loop()
	return nil
}

// loop sends heartbeats, forgets silent nodes and checks the subscribed channels for a
// missed last publication (one no later publication would reveal).
func (b *NATS) loop() {
	defer b.done.Done()
	hb := time.NewTicker(b.opts.Heartbeat)
	defer hb.Stop()
	check := time.NewTicker(30 * time.Second)
	defer check.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-hb.C:
			b.beat()
			b.reapNodes()
		case <-check.C:
			b.checkChannels()
		}
	}
}

type heartbeat struct {
	ID string `json:"id"`
}

func (b *NATS) beat() {
	msg, _ := json.Marshal(heartbeat{ID: b.opts.NodeID})
	if err := b.nc.Publish(b.opts.Prefix+".node.hb", msg); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		b.log.Debug("heartbeat", "err", err)
	}
}

// heard records a node's heartbeat, or forgets a node that said goodbye. A node heard for the
// first time is answered with a heartbeat at once, so a newcomer learns every node quickly.
func (b *NATS) heard(m *nats.Msg) {
	var hb heartbeat
	if json.Unmarshal(m.Data, &hb) != nil || hb.ID == "" {
		return
	}
	b.mu.Lock()
	if strings.HasSuffix(m.Subject, ".bye") {
		delete(b.nodes, hb.ID)
		delete(b.silent, hb.ID)
		b.mu.Unlock()
		b.log.Info("node left the cluster", "node", hb.ID)
		return
	}
	_, known := b.nodes[hb.ID]
	b.nodes[hb.ID] = time.Now()
	b.mu.Unlock()
	if !known && hb.ID != b.opts.NodeID {
		b.log.Info("node joined the cluster", "node", hb.ID)
		b.beat()
	}
}

// reapNodes forgets nodes silent for three heartbeats.
func (b *NATS) reapNodes() {
	cutoff := time.Now().Add(-3 * b.opts.Heartbeat)
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, seen := range b.nodes {
		if id != b.opts.NodeID && seen.Before(cutoff) {
			delete(b.nodes, id)
			delete(b.silent, id)
			b.log.Warn("node silent for three heartbeats; its members are gone", "node", id)
		}
	}
}

// Nodes lists the live nodes' ids, this one included.
func (b *NATS) Nodes() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.nodes))
	for id := range b.nodes {
		out = append(out, id)
	}
	return out
}

// reconnected runs after NATS came back: a restarted server may have lost the newest writes
// (see NewEpochOnRestart), and this node missed whatever was published while it was away.
func (b *NATS) reconnected(nc *nats.Conn) {
	id := nc.ConnectedServerId()
	prev, _ := b.serverID.Swap(id).(string)
	b.log.Info("nats reconnected", "server", id, "restarted", prev != id)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), natsRTTBudget)
		defer cancel()
		if err := b.ensureStream(ctx); err != nil {
			b.log.Error("nats reconnected but the history stream is not usable", "err", err)
		}
		if prev != id && b.opts.NewEpochOnRestart {
			if s := b.stream.Load(); s != nil {
				if info, err := (*s).Info(ctx); err == nil {
					b.restartSeq.Store(info.State.LastSeq)
				}
			}
			b.pubs.Purge()
		}
		b.beat()
		b.checkChannels()
	}()
}

// Subscribe starts receiving ch's live subject. The channel's stream position is read first,
// so what is published between that read and the subscription is fetched when the next
// publication reveals it.
func (b *NATS) Subscribe(ch string) error {
	b.mu.Lock()
	_, ok := b.chans[ch]
	b.mu.Unlock()
	if ok {
		return nil
	}
	c := &natsChannel{b: b, name: ch}
	ctx, cancel := context.WithTimeout(context.Background(), natsRTTBudget)
	defer cancel()
	last, found, err := b.readLast(ctx, ch)
	if err != nil {
		return err
	}
	if found {
		c.set(last)
	}
	sub, err := b.nc.Subscribe(b.liveSubject(ch), c.receive)
	if err != nil {
		return fmt.Errorf("nats broker: subscribe %s: %w", ch, err)
	}
	// Pending limits well above nats.go's defaults' share: a channel's burst is absorbed
	// here rather than dropped (drops are counted and repaired by the gap check).
	_ = sub.SetPendingLimits(1<<20, 256<<20)
	// The subscription must have reached the server before the hub answers its subscriber,
	// or a publication sent right after the answer could be missed.
	if err := b.nc.FlushWithContext(ctx); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("nats broker: subscribe %s: %w", ch, err)
	}
	c.sub = sub
	b.mu.Lock()
	b.chans[ch] = c
	b.mu.Unlock()
	return nil
}

// Unsubscribe stops receiving ch.
func (b *NATS) Unsubscribe(ch string) error {
	b.mu.Lock()
	c := b.chans[ch]
	delete(b.chans, ch)
	b.mu.Unlock()
	if c == nil {
		return nil
	}
	if err := c.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("nats broker: unsubscribe %s: %w", ch, err)
	}
	return nil
}

// checkChannels compares every subscribed channel with its stream's last message and
// delivers what this node missed.
func (b *NATS) checkChannels() {
	b.mu.Lock()
	list := make([]*natsChannel, 0, len(b.chans))
	for _, c := range b.chans {
		list = append(list, c)
	}
	b.mu.Unlock()
	for _, c := range list {
		ctx, cancel := context.WithTimeout(context.Background(), natsRTTBudget)
		last, found, err := b.readLast(ctx, c.name)
		cancel()
		if err != nil || !found {
			continue
		}
		c.mu.Lock()
		c.accept(last)
		c.mu.Unlock()
	}
}

// natsChannel is one channel this node receives: where its stream stands as delivered to
// the hub.
type natsChannel struct {
	b    *NATS
	name string
	sub  *nats.Subscription

	mu    sync.Mutex
	epoch string // "" until a stored message (or marker) is seen
	off   uint64 // last offset delivered
	seq   uint64 // its stream sequence
}

func (c *natsChannel) set(m storedMsg) { c.epoch, c.off, c.seq = m.epoch, m.off, m.seq }

// receive handles one message of the live subject.
func (c *natsChannel) receive(m *nats.Msg) {
	h := c.b.handler
	switch m.Header.Get(hdrKind) {
	case "j":
		if info := decodeInfo(m.Header.Get(hdrInfo)); info != nil {
			h.HandleJoin(c.name, info)
		}
		return
	case "l":
		if info := decodeInfo(m.Header.Get(hdrInfo)); info != nil {
			h.HandleLeave(c.name, info)
		}
		return
	}
	if m.Header.Get(hdrOffset) == "" {
		h.HandlePublication(c.name, &pubsub.Publication{
			Data: m.Data, Info: decodeInfo(m.Header.Get(hdrInfo)), Time: headerInt(m.Header, hdrTime),
		}, pubsub.StreamPosition{})
		return
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		c.b.log.Warn("republished message without a sequence", "channel", c.name)
		return
	}
	sm, err := parseStored(m.Header, m.Data, seq, time.Time{})
	if err != nil {
		c.b.log.Warn("bad stored message", "channel", c.name, "err", err)
		return
	}
	c.mu.Lock()
	c.accept(sm)
	c.mu.Unlock()
}

// accept delivers m in offset order: a duplicate is dropped, and what is missing before it
// is fetched from the stream first; c.mu is held.
func (c *natsChannel) accept(m storedMsg) {
	switch {
	case m.marker:
		if m.epoch != c.epoch || m.seq > c.seq {
			c.set(m)
		}
		return
	case c.epoch != "" && m.epoch != c.epoch:
		// A new stream: the hub tells recovering subscribers, and re-bases the others.
		c.deliver(m)
		return
	case m.off <= c.off:
		return // a duplicate (a refill overtook it)
	case m.off > c.off+1:
		c.refill(m)
	}
	c.deliver(m)
}

func (c *natsChannel) deliver(m storedMsg) {
	c.set(m)
	c.b.handler.HandlePublication(c.name, m.pub, pubsub.StreamPosition{Offset: m.off, Epoch: m.epoch})
}

// refill fetches, by the chain of previous sequences, the publications between the last one
// delivered and m, and delivers them. What is no longer in the stream is left out: the hub
// then declares the gap to the subscribers that must recover.
func (c *natsChannel) refill(m storedMsg) {
	ctx, cancel := context.WithTimeout(context.Background(), natsRTTBudget)
	defer cancel()
	var missing []storedMsg
	for prev := m.prev; prev > c.seq && len(missing) <= c.b.opts.MaxHistory; {
		x, err := c.b.getSeq(ctx, prev)
		if err != nil || x.marker || x.epoch != m.epoch || x.off <= c.off {
			break
		}
		missing = append(missing, x)
		prev = x.prev
	}
	complete := len(missing) > 0 && missing[len(missing)-1].off == c.off+1
	if c.epoch == "" && len(missing) > 0 && missing[len(missing)-1].off == 1 {
		complete = true // the channel was empty when this node looked
	}
	if complete {
		metrics.Broker.WithLabelValues("refilled").Add(float64(len(missing)))
	} else {
		metrics.Broker.WithLabelValues("lost").Inc()
		c.b.log.Warn("publications missing from the stream", "channel", c.name, "after", c.off, "next", m.off)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		c.deliver(missing[i])
	}
}

// storedMsg is one message of the history stream, decoded.
type storedMsg struct {
	seq, prev uint64
	off       uint64
	epoch     string
	marker    bool
	keepSize  int
	keepTTL   time.Duration
	stored    time.Time // JetStream's timestamp (zero for a republished copy)
	pub       *pubsub.Publication
}

func parseStored(h nats.Header, data []byte, seq uint64, stored time.Time) (storedMsg, error) {
	m := storedMsg{seq: seq, epoch: h.Get(hdrEpoch), marker: h.Get(hdrMarker) != "", stored: stored}
	var err error
	if m.off, err = strconv.ParseUint(h.Get(hdrOffset), 10, 64); err != nil {
		return m, fmt.Errorf("offset header: %w", err)
	}
	if m.prev, err = strconv.ParseUint(h.Get(hdrPrev), 10, 64); err != nil {
		return m, fmt.Errorf("previous sequence header: %w", err)
	}
	if m.epoch == "" {
		return m, errors.New("no epoch header")
	}
	if size, ttl, ok := strings.Cut(h.Get(hdrKeep), "/"); ok {
		m.keepSize, _ = strconv.Atoi(size)
		ms, _ := strconv.ParseInt(ttl, 10, 64)
		m.keepTTL = time.Duration(ms) * time.Millisecond
	}
	if !m.marker {
		m.pub = &pubsub.Publication{Offset: m.off, Data: data, Info: decodeInfo(h.Get(hdrInfo)), Time: headerInt(h, hdrTime)}
	}
	return m, nil
}

func decodeInfo(s string) *pubsub.ClientInfo {
	if s == "" {
		return nil
	}
	var info pubsub.ClientInfo
	if json.Unmarshal([]byte(s), &info) != nil {
		return nil
	}
	return &info
}

func encodeInfo(h nats.Header, info *pubsub.ClientInfo) {
	if info != nil {
		b, _ := json.Marshal(info)
		h.Set(hdrInfo, string(b))
	}
}

func headerInt(h nats.Header, key string) int64 {
	n, _ := strconv.ParseInt(h.Get(key), 10, 64)
	return n
}

func (b *NATS) historyStream() (jetstream.Stream, error) {
	s := b.stream.Load()
	if s == nil {
		return nil, errors.New("nats broker: no history stream")
	}
	return *s, nil
}

// readLast reads ch's newest stored message.
func (b *NATS) readLast(ctx context.Context, ch string) (storedMsg, bool, error) {
	s, err := b.historyStream()
	if err != nil {
		return storedMsg{}, false, err
	}
	raw, err := s.GetLastMsgForSubject(ctx, b.histSubject(ch))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return storedMsg{}, false, nil
	}
	if err != nil {
		return storedMsg{}, false, fmt.Errorf("nats broker: read %s: %w", ch, err)
	}
	m, err := parseStored(raw.Header, raw.Data, raw.Sequence, raw.Time)
	if err != nil {
		return storedMsg{}, false, fmt.Errorf("nats broker: read %s: %w", ch, err)
	}
	return m, true, nil
}

// getSeq reads the stored message at a stream sequence.
func (b *NATS) getSeq(ctx context.Context, seq uint64) (storedMsg, error) {
	s, err := b.historyStream()
	if err != nil {
		return storedMsg{}, err
	}
	raw, err := s.GetMsg(ctx, seq)
	if err != nil {
		return storedMsg{}, err
	}
	return parseStored(raw.Header, raw.Data, raw.Sequence, raw.Time)
}

// pubState is what this node last knew of a channel's stream when publishing. Its mutex keeps
// one compare-and-set per channel in flight from this node: only nodes race each other.
type pubState struct {
	mu    sync.Mutex
	known bool
	seq   uint64
	off   uint64
	epoch string
}

func (b *NATS) pubState(ch string) *pubState {
	if ps, ok := b.pubs.Get(ch); ok {
		return ps
	}
	ps := &pubState{}
	if prev, ok, _ := b.pubs.PeekOrAdd(ch, ps); ok {
		return prev
	}
	return ps
}

// Publish stores a publication with history (offset and epoch by compare-and-set on the
// channel's subject) or sends one without history as an unsequenced core message.
func (b *NATS) Publish(ctx context.Context, ch string, data []byte, o pubsub.PublishOptions) (pubsub.StreamPosition, error) {
	now := time.Now().UnixMilli()
	if o.HistorySize <= 0 || o.HistoryTTL <= 0 {
		msg := nats.NewMsg(b.liveSubject(ch))
		msg.Data = data
		msg.Header.Set(hdrTime, strconv.FormatInt(now, 10))
		encodeInfo(msg.Header, o.Info)
		if err := b.nc.PublishMsg(msg); err != nil {
			return pubsub.StreamPosition{}, b.failed("publish "+ch, err)
		}
		return pubsub.StreamPosition{}, nil
	}
	ps := b.pubState(ch)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for attempt := 1; ; attempt++ {
		if !ps.known {
			last, found, err := b.readLast(ctx, ch)
			if err != nil {
				return pubsub.StreamPosition{}, b.failed("publish "+ch, err)
			}
			ps.known, ps.seq, ps.off, ps.epoch = true, 0, 0, ""
			if found {
				ps.seq, ps.off, ps.epoch = last.seq, last.off, last.epoch
			}
		}
		off, epoch := ps.off+1, ps.epoch
		switch {
		case ps.seq == 0:
			off, epoch = 1, newEpoch() // an empty channel: a new stream
		case ps.seq <= b.restartSeq.Load():
			epoch = newEpoch() // written before a NATS restart that may have lost writes
		}
		msg := nats.NewMsg(b.histSubject(ch))
		msg.Data = data
		msg.Header.Set(hdrOffset, strconv.FormatUint(off, 10))
		msg.Header.Set(hdrEpoch, epoch)
		msg.Header.Set(hdrPrev, strconv.FormatUint(ps.seq, 10))
		msg.Header.Set(hdrKeep, strconv.Itoa(o.HistorySize)+"/"+strconv.FormatInt(o.HistoryTTL.Milliseconds(), 10))
		msg.Header.Set(hdrTime, strconv.FormatInt(now, 10))
		encodeInfo(msg.Header, o.Info)
		ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(ps.seq))
		if err == nil {
			ps.seq, ps.off, ps.epoch = ack.Sequence, off, epoch
			return pubsub.StreamPosition{Offset: off, Epoch: epoch}, nil
		}
		ps.known = false
		if !wrongLastSequence(err) || attempt == maxCASAttempts {
			return pubsub.StreamPosition{}, b.failed("publish "+ch, err)
		}
		metrics.Broker.WithLabelValues("cas_conflict").Inc()
		// Another node took the offset; back off a random while, longer after each loss (up
		// to 20 ms), so the nodes do not collide in lockstep.
		backoff := min(20*time.Millisecond, 100*time.Microsecond<<min(attempt, 8))
		t := time.NewTimer(time.Duration(rand.Int64N(int64(backoff))))
		select {
		case <-ctx.Done():
			t.Stop()
			return pubsub.StreamPosition{}, fmt.Errorf("nats broker: publish %s: %w", ch, ctx.Err())
		case <-t.C:
		}
	}
}

// failed wraps err; while NATS is not connected it is also pubsub.ErrUnavailable, so the API
// answers 503 (try again) rather than 500.
func (b *NATS) failed(what string, err error) error {
	if !b.nc.IsConnected() {
		return fmt.Errorf("nats broker: %s: %w (%w)", what, pubsub.ErrUnavailable, err)
	}
	return fmt.Errorf("nats broker: %s: %w", what, err)
}

func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// PublishJoin sends a join event to the nodes subscribed to ch.
func (b *NATS) PublishJoin(_ context.Context, ch string, info *pubsub.ClientInfo) error {
	return b.event(ch, "j", info)
}

// PublishLeave sends a leave event to the nodes subscribed to ch.
func (b *NATS) PublishLeave(_ context.Context, ch string, info *pubsub.ClientInfo) error {
	return b.event(ch, "l", info)
}

func (b *NATS) event(ch, kind string, info *pubsub.ClientInfo) error {
	msg := nats.NewMsg(b.liveSubject(ch))
	msg.Header.Set(hdrKind, kind)
	encodeInfo(msg.Header, info)
	if err := b.nc.PublishMsg(msg); err != nil {
		return b.failed("publish event "+ch, err)
	}
	return nil
}

// History reads ch's stream: its position, and the publications the filter selects, walking
// back from the newest message by the previous-sequence chain. The history size and TTL of
// the newest publish apply, at read time.
func (b *NATS) History(ctx context.Context, ch string, f pubsub.HistoryFilter) (pubsub.HistoryResult, error) {
	last, found, err := b.readLast(ctx, ch)
	if err != nil {
		return pubsub.HistoryResult{}, err
	}
	if !found {
		if last, err = b.mark(ctx, ch); err != nil {
			return pubsub.HistoryResult{}, err
		}
	}
	res := pubsub.HistoryResult{Position: pubsub.StreamPosition{Offset: last.off, Epoch: last.epoch}}
	if f.Limit == 0 || last.marker {
		return res, nil
	}
	// Walk back to Since (or as far as the limit asks when there is none), within the kept
	// size and age.
	want := last.keepSize
	if f.Since == nil && f.Limit > 0 {
		want = min(want, f.Limit)
	}
	expired := time.Now().Add(-last.keepTTL)
	var pubs []*pubsub.Publication
	for m := last; len(pubs) < want; {
		if m.marker || m.epoch != last.epoch || (f.Since != nil && m.off <= f.Since.Offset) ||
			(!m.stored.IsZero() && m.stored.Before(expired)) {
			break
		}
		pubs = append(pubs, m.pub)
		if m.prev == 0 {
			break
		}
		if m, err = b.getSeq(ctx, m.prev); err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break // trimmed: the history ends here
			}
			return pubsub.HistoryResult{}, fmt.Errorf("nats broker: history %s: %w", ch, err)
		}
	}
	// pubs is newest first; turn it and cut it as Memory does: with Since, the oldest Limit
	// after it; without, the newest Limit.
	for i, j := 0, len(pubs)-1; i < j; i, j = i+1, j-1 {
		pubs[i], pubs[j] = pubs[j], pubs[i]
	}
	if f.Since != nil && f.Limit > 0 && len(pubs) > f.Limit {
		pubs = pubs[:f.Limit]
	}
	res.Publications = pubs
	return res, nil
}

// mark gives an empty channel its epoch, stored as a marker message, so the epoch a client
// is told stays the one the channel's first publication carries (as a Memory stream is
// created on read). Two nodes marking at once: the compare-and-set lets one win, and the
// other reads its marker.
func (b *NATS) mark(ctx context.Context, ch string) (storedMsg, error) {
	for range 3 {
		msg := nats.NewMsg(b.histSubject(ch))
		epoch := newEpoch()
		msg.Header.Set(hdrOffset, "0")
		msg.Header.Set(hdrEpoch, epoch)
		msg.Header.Set(hdrPrev, "0")
		msg.Header.Set(hdrMarker, "1")
		ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(0))
		if err == nil {
			return storedMsg{seq: ack.Sequence, epoch: epoch, marker: true}, nil
		}
		if !wrongLastSequence(err) {
			return storedMsg{}, fmt.Errorf("nats broker: mark %s: %w", ch, err)
		}
		last, found, err := b.readLast(ctx, ch)
		if err != nil {
			return storedMsg{}, err
		}
		if found {
			return last, nil
		}
	}
	return storedMsg{}, fmt.Errorf("nats broker: mark %s: the channel keeps changing", ch)
}

// Ping reports whether NATS is connected and answering.
func (b *NATS) Ping(ctx context.Context) error {
	if st := b.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats broker: %s", strings.ToLower(st.String()))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, natsRTTBudget)
		defer cancel()
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("nats broker: ping: %w", err)
	}
	return nil
}

// Close tells the other nodes this one is leaving (its members vanish from their presence
// reads at once) and disconnects.
func (b *NATS) Close(context.Context) error {
	select {
	case <-b.stop:
		return nil
	default:
	}
	close(b.stop)
	b.done.Wait()
	if b.handler != nil {
		msg, _ := json.Marshal(heartbeat{ID: b.opts.NodeID})
		_ = b.nc.Publish(b.opts.Prefix+".node.bye", msg)
		_ = b.nc.FlushTimeout(time.Second)
	}
	b.nc.Close()
	return nil
}

// presenceRequest asks every node for its members of a channel.
type presenceRequest struct {
	Channel string `json:"channel"`
}

// presenceAnswer is one node's answer to a presence request.
type presenceAnswer struct {
	Node    string                        `json:"node"`
	Members map[string]*pubsub.ClientInfo `json:"members"`
}

// answerPresence answers a presence request with this node's members of the channel.
func (b *NATS) answerPresence(m *nats.Msg) {
	var req presenceRequest
	if json.Unmarshal(m.Data, &req) != nil || m.Reply == "" {
		return
	}
	members, _ := b.localPresence.Presence(context.Background(), req.Channel)
	out, _ := json.Marshal(presenceAnswer{Node: b.opts.NodeID, Members: members})
	if err := m.Respond(out); err != nil {
		b.log.Debug("answer presence", "err", err)
	}
}

// AddPresence lists clientID on this node. With a maximum, the cluster's members are counted
// first; two nodes admitting members at the same moment can overshoot it by a few (a soft
// limit in a cluster).
func (b *NATS) AddPresence(ctx context.Context, ch, clientID string, info *pubsub.ClientInfo, max int) error {
	if max > 0 {
		local, _ := b.localPresence.Presence(ctx, ch)
		if _, listed := local[clientID]; !listed {
			all, err := b.Presence(ctx, ch)
			if err != nil {
				return err
			}
			if len(all) >= max {
				return pubsub.ErrPresenceFull
			}
		}
	}
	return b.localPresence.AddPresence(ctx, ch, clientID, info, 0)
}

// Presence merges every live node's members of ch. It waits for an answer from each node
// heard by heartbeat, or PresenceWait. A node that did not answer is not waited for again
// until its next heartbeat: a node that just died costs one read that wait, not every read
// until it is declared dead; its members are absent from the answers at once.
func (b *NATS) Presence(ctx context.Context, ch string) (map[string]*pubsub.ClientInfo, error) {
	b.mu.Lock()
	expect := map[string]bool{}
	for id, seen := range b.nodes {
		if silent, ok := b.silent[id]; !ok || seen.After(silent) {
			expect[id] = true
		}
	}
	b.mu.Unlock()
	inbox := b.nc.NewInbox()
	sub, err := b.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("nats broker: presence %s: %w", ch, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	req, _ := json.Marshal(presenceRequest{Channel: ch})
	if err := b.nc.PublishRequest(b.opts.Prefix+".pres", inbox, req); err != nil {
		return nil, b.failed("presence "+ch, err)
	}
	wctx, cancel := context.WithTimeout(ctx, b.opts.PresenceWait)
	defer cancel()
	out := map[string]*pubsub.ClientInfo{}
	answered := 0
	for waiting := len(expect); waiting > 0 || answered == 0; {
		m, err := sub.NextMsgWithContext(wctx)
		if err != nil {
			if answered == 0 {
				return nil, b.failed("presence "+ch+": no node answered", err)
			}
			break
		}
		var a presenceAnswer
		if json.Unmarshal(m.Data, &a) != nil {
			continue
		}
		answered++
		if expect[a.Node] {
			delete(expect, a.Node)
			waiting--
		}
		maps.Copy(out, a.Members)
	}
	if len(expect) > 0 {
		now := time.Now()
		b.mu.Lock()
		for id := range expect {
			b.silent[id] = now
		}
		b.mu.Unlock()
		b.log.Warn("nodes did not answer a presence read; not waiting for them until they are heard again", "nodes", len(expect))
	}
	return out, nil
}

// PresenceStats counts ch's members across the cluster.
func (b *NATS) PresenceStats(ctx context.Context, ch string) (pubsub.PresenceStats, error) {
	members, err := b.Presence(ctx, ch)
	if err != nil {
		return pubsub.PresenceStats{}, err
	}
	return stats(members), nil
}
