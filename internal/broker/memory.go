package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/switchboard/switchboard/internal/pubsub"
)

// Memory is the single-node engine: streams, history and presence live in this process. A
// restart loses history, and every stream gets a new epoch, so clients learn that they cannot
// recover.
type Memory struct {
	handler Handler
	metaTTL time.Duration
	now     func() time.Time
	seed    maphash.Seed
	shards  [memoryShards]memoryShard

	localPresence

	stop chan struct{}
	done chan struct{}
}

const memoryShards = 64

type memoryShard struct {
	mu      sync.Mutex
	streams map[string]*stream
}

// stream is one channel's log. Its mutex orders offset assignment and delivery, so two
// concurrent publishers never deliver out of offset order.
type stream struct {
	mu     sync.Mutex
	epoch  string
	offset uint64
	pubs   []*pubsub.Publication // oldest first, bounded by the namespace's history size
	expiry []int64               // unix ms when pubs[i] expires
	used   time.Time             // last publish or read, for expiring idle stream metadata
	// subscribed: this node has local subscribers, so the stream is never reaped (a live
	// subscriber's position must stay valid).
	subscribed bool
}

// emptyStreamTTL is how long a stream that never had a publication is kept without
// subscribers. Reading a position creates a stream (so the epoch a client is told stays
// valid), and a client cycling through channel names must not fill memory for a whole
// history_meta_ttl. Dropping one loses nothing: a client asking to recover from offset 0 of a
// vanished epoch is told recovered=false, never a false recovery.
const emptyStreamTTL = time.Minute

var _ Broker = (*Memory)(nil)
var _ PresenceManager = (*Memory)(nil)

// NewMemory returns the in-process engine. metaTTL is how long an idle stream keeps its offset
// and epoch after its last publication.
func NewMemory(metaTTL time.Duration) *Memory {
	m := &Memory{
		metaTTL:       metaTTL,
		now:           time.Now,
		seed:          maphash.MakeSeed(),
		localPresence: newLocalPresence(),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	for i := range m.shards {
		m.shards[i].streams = map[string]*stream{}
	}
	return m
}

// Run starts delivering to h and starts the reaper of idle streams.
func (m *Memory) Run(h Handler) error {
	if m.handler != nil {
		return errors.New("memory broker: Run called twice")
	}
	m.handler = h
	go m.reap()
	return nil
}

func (m *Memory) reap() {
	defer close(m.done)
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.reapOnce()
		}
	}
}

// reapOnce drops expired publications and streams idle for longer than metaTTL.
func (m *Memory) reapOnce() {
	now := m.now()
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for ch, s := range sh.streams {
			s.mu.Lock()
			s.trim(now.UnixMilli(), -1)
			ttl := m.metaTTL
			if s.offset == 0 {
				ttl = min(ttl, emptyStreamTTL)
			}
			idle := !s.subscribed && len(s.pubs) == 0 && now.Sub(s.used) > ttl
			s.mu.Unlock()
			if idle {
				delete(sh.streams, ch)
			}
		}
		sh.mu.Unlock()
	}
}

func (m *Memory) shard(ch string) *memoryShard {
	return &m.shards[maphash.String(m.seed, ch)%memoryShards]
}

func (m *Memory) stream(ch string, create bool) *stream {
	sh := m.shard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.streams[ch]
	if s == nil && create {
		s = &stream{epoch: newEpoch(), used: m.now()}
		sh.streams[ch] = s
	}
	return s
}

func newEpoch() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// trim drops expired publications and keeps at most size (size < 0: no size bound).
func (s *stream) trim(nowMS int64, size int) {
	drop := 0
	for drop < len(s.pubs) && s.expiry[drop] <= nowMS {
		drop++
	}
	if size >= 0 && len(s.pubs)-drop > size {
		drop = len(s.pubs) - size
	}
	if drop == 0 {
		return
	}
	// Clear the dropped slots so the publications can be collected, then shift.
	clear(s.pubs[:drop])
	s.pubs = append(s.pubs[:0], s.pubs[drop:]...)
	s.expiry = append(s.expiry[:0], s.expiry[drop:]...)
}

// Subscribe marks the stream as having local subscribers, which keeps it from being reaped.
// (Every publication reaches this one node anyway.)
func (m *Memory) Subscribe(ch string) error {
	s := m.stream(ch, true)
	s.mu.Lock()
	s.subscribed = true
	s.mu.Unlock()
	return nil
}

// Unsubscribe lets the stream expire again once idle.
func (m *Memory) Unsubscribe(ch string) error {
	if s := m.stream(ch, false); s != nil {
		s.mu.Lock()
		s.subscribed = false
		s.used = m.now()
		s.mu.Unlock()
	}
	return nil
}

// Publish appends to the stream and delivers, both under the stream's lock, so delivery order
// is offset order. A publication without history is not sequenced (offset 0), as on every
// engine: there is nothing to recover it from.
func (m *Memory) Publish(_ context.Context, ch string, data []byte, o pubsub.PublishOptions) (pubsub.StreamPosition, error) {
	now := m.now()
	if o.HistorySize <= 0 || o.HistoryTTL <= 0 {
		if m.handler != nil {
			m.handler.HandlePublication(ch, &pubsub.Publication{Data: data, Info: o.Info, Time: now.UnixMilli()}, pubsub.StreamPosition{})
		}
		return pubsub.StreamPosition{}, nil
	}
	s := m.stream(ch, true)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset++
	s.used = now
	pub := &pubsub.Publication{Offset: s.offset, Data: data, Info: o.Info, Time: now.UnixMilli()}
	s.pubs = append(s.pubs, pub)
	s.expiry = append(s.expiry, now.Add(o.HistoryTTL).UnixMilli())
	s.trim(now.UnixMilli(), o.HistorySize)
	sp := pubsub.StreamPosition{Offset: s.offset, Epoch: s.epoch}
	if m.handler != nil {
		m.handler.HandlePublication(ch, pub, sp)
	}
	return sp, nil
}

// PublishJoin delivers a join event.
func (m *Memory) PublishJoin(_ context.Context, ch string, info *pubsub.ClientInfo) error {
	if m.handler != nil {
		m.handler.HandleJoin(ch, info)
	}
	return nil
}

// PublishLeave delivers a leave event.
func (m *Memory) PublishLeave(_ context.Context, ch string, info *pubsub.ClientInfo) error {
	if m.handler != nil {
		m.handler.HandleLeave(ch, info)
	}
	return nil
}

// History returns the publications after f.Since, or the newest f.Limit without Since.
func (m *Memory) History(_ context.Context, ch string, f pubsub.HistoryFilter) (pubsub.HistoryResult, error) {
	// A stream is created on read too, so the epoch a client is given stays the one later
	// publications carry.
	s := m.stream(ch, true)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trim(m.now().UnixMilli(), -1)
	res := pubsub.HistoryResult{Position: pubsub.StreamPosition{Offset: s.offset, Epoch: s.epoch}}
	if f.Limit == 0 {
		return res, nil
	}
	pubs := s.pubs
	if f.Since != nil {
		// Publications are contiguous by offset: find the first one after Since.
		i := 0
		for i < len(pubs) && pubs[i].Offset <= f.Since.Offset {
			i++
		}
		pubs = pubs[i:]
		if f.Limit > 0 && len(pubs) > f.Limit {
			pubs = pubs[:f.Limit]
		}
	} else if f.Limit > 0 && len(pubs) > f.Limit {
		pubs = pubs[len(pubs)-f.Limit:]
	}
	res.Publications = append([]*pubsub.Publication(nil), pubs...)
	return res, nil
}

// Ping always succeeds: the engine is this process.
func (m *Memory) Ping(context.Context) error { return nil }

// Close stops the reaper.
func (m *Memory) Close(context.Context) error {
	select {
	case <-m.stop:
	default:
		close(m.stop)
		if m.handler != nil {
			<-m.done
		}
	}
	return nil
}

// streamCount counts the streams held (tests).
func (m *Memory) streamCount() int {
	n := 0
	for i := range m.shards {
		m.shards[i].mu.Lock()
		n += len(m.shards[i].streams)
		m.shards[i].mu.Unlock()
	}
	return n
}
