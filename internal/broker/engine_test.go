package broker

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/broker/natstest"
	"github.com/switchboard/switchboard/internal/pubsub"
)

// engine is what the cluster-facing tests need of an engine: a broker and its presence.
type engine interface {
	Broker
	PresenceManager
}

// events records, per channel, what a node's handler was given.
type events struct {
	mu     sync.Mutex
	cond   *sync.Cond
	pubs   map[string][]*pubsub.Publication
	joins  map[string]int
	leaves map[string]int
}

func newEvents() *events {
	e := &events{pubs: map[string][]*pubsub.Publication{}, joins: map[string]int{}, leaves: map[string]int{}}
	e.cond = sync.NewCond(&e.mu)
	return e
}

func (e *events) HandlePublication(ch string, p *pubsub.Publication, _ pubsub.StreamPosition) {
	e.mu.Lock()
	e.pubs[ch] = append(e.pubs[ch], p)
	e.cond.Broadcast()
	e.mu.Unlock()
}
func (e *events) HandleJoin(ch string, _ *pubsub.ClientInfo) {
	e.mu.Lock()
	e.joins[ch]++
	e.cond.Broadcast()
	e.mu.Unlock()
}
func (e *events) HandleLeave(ch string, _ *pubsub.ClientInfo) {
	e.mu.Lock()
	e.leaves[ch]++
	e.cond.Broadcast()
	e.mu.Unlock()
}

// waitFor blocks until ok holds (checked under the lock after every event) or the test's
// guard runs out; it never asserts a duration, only that the condition is reached at all.
func (e *events) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	timer := time.AfterFunc(guard, func() { e.mu.Lock(); e.cond.Broadcast(); e.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(guard)
	e.mu.Lock()
	defer e.mu.Unlock()
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		e.cond.Wait()
	}
}

func (e *events) offsets(ch string) []uint64 {
	var out []uint64
	for _, p := range e.pubs[ch] {
		out = append(out, p.Offset)
	}
	return out
}

// guard bounds every wait of these tests so a broken engine fails instead of hanging.
const guard = 20 * time.Second

// cluster makes nodes of one engine: for Memory, one shared instance (it is one process); for
// NATS, one broker per node on the same server, under a prefix of the test's own.
type cluster struct {
	node func(t *testing.T) (engine, *events)
}

// eachEngine runs fn against Memory, an embedded NATS server of the module's version, and the
// machine's NATS server (Debian's 2.9.10) when one listens on 127.0.0.1:4222.
func eachEngine(t *testing.T, fn func(t *testing.T, c cluster)) {
	t.Run("memory", func(t *testing.T) {
		m := NewMemory(time.Hour)
		ev := newEvents()
		if err := m.Run(ev); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(context.Background()) })
		fn(t, cluster{node: func(*testing.T) (engine, *events) { return m, ev }})
	})
	t.Run("nats-embedded", func(t *testing.T) {
		url := natstest.URL(t)
		fn(t, natsCluster(t, url, NATSOptions{}))
	})
	t.Run("nats-machine", func(t *testing.T) {
		url := natstest.Machine(t)
		fn(t, natsCluster(t, url, NATSOptions{}))
	})
}

var prefixSeq struct {
	sync.Mutex
	n int
}

// natsCluster gives each test a prefix (and so a history stream) of its own, deleted after.
func natsCluster(t *testing.T, url string, o NATSOptions) cluster {
	prefixSeq.Lock()
	prefixSeq.n++
	prefix := fmt.Sprintf("sbt%d_%d", os.Getpid(), prefixSeq.n)
	prefixSeq.Unlock()
	o.URL, o.Prefix = url, prefix
	if o.MaxHistory == 0 {
		o.MaxHistory = 1000
	}
	if o.MetaTTL == 0 {
		o.MetaTTL = time.Hour
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = 200 * time.Millisecond
	}
	n := 0
	t.Cleanup(func() {
		// The stream is the test's own: drop it so the machine's server does not keep it.
		b, err := NewNATS(context.Background(), o)
		if err == nil {
			if s, err := b.historyStream(); err == nil {
				_ = b.js.DeleteStream(context.Background(), s.CachedInfo().Config.Name)
			}
			b.nc.Close()
		}
	})
	return cluster{node: func(t *testing.T) (engine, *events) {
		t.Helper()
		n++
		oo := o
		oo.NodeID = fmt.Sprintf("n%d", n)
		b, err := NewNATS(context.Background(), oo)
		if err != nil {
			t.Fatal(err)
		}
		ev := newEvents()
		if err := b.Run(ev); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close(context.Background()) })
		return b, ev
	}}
}

var hist = pubsub.PublishOptions{HistorySize: 100, HistoryTTL: time.Hour}

func TestEngineStreams(t *testing.T) {
	eachEngine(t, func(t *testing.T, c cluster) {
		ctx := context.Background()
		a, _ := c.node(t)
		b, evB := c.node(t)
		// An empty channel's epoch, once read, is the one its first publication carries.
		empty, err := b.History(ctx, "room", pubsub.HistoryFilter{})
		if err != nil || empty.Position.Offset != 0 || empty.Position.Epoch == "" {
			t.Fatalf("empty channel: %+v %v", empty.Position, err)
		}
		if err := b.Subscribe("room"); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 5; i++ {
			sp, err := a.Publish(ctx, "room", []byte(fmt.Sprintf(`{"n":%d}`, i)), hist)
			if err != nil {
				t.Fatal(err)
			}
			if sp.Offset != uint64(i) || sp.Epoch != empty.Position.Epoch {
				t.Fatalf("publish %d: position %+v, want offset %d epoch %s", i, sp, i, empty.Position.Epoch)
			}
		}
		evB.waitFor(t, "five publications on the other node", func() bool { return len(evB.pubs["room"]) >= 5 })
		if got := evB.offsets("room"); fmt.Sprint(got) != "[1 2 3 4 5]" {
			t.Fatalf("delivered offsets %v", got)
		}
		if p := evB.pubs["room"][2]; string(p.Data) != `{"n":3}` || p.Time == 0 {
			t.Fatalf("third publication %+v", p)
		}
		tests := []struct {
			name string
			f    pubsub.HistoryFilter
			want string
		}{
			{"all", pubsub.HistoryFilter{Limit: -1}, "[1 2 3 4 5]"},
			{"newest two", pubsub.HistoryFilter{Limit: 2}, "[4 5]"},
			{"position only", pubsub.HistoryFilter{Limit: 0}, "[]"},
			{"since", pubsub.HistoryFilter{Since: &pubsub.StreamPosition{Offset: 2}, Limit: -1}, "[3 4 5]"},
			{"since, oldest two after", pubsub.HistoryFilter{Since: &pubsub.StreamPosition{Offset: 1}, Limit: 2}, "[2 3]"},
			{"since the top", pubsub.HistoryFilter{Since: &pubsub.StreamPosition{Offset: 5}, Limit: -1}, "[]"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, err := b.History(ctx, "room", tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var got []uint64
				for _, p := range res.Publications {
					got = append(got, p.Offset)
				}
				if fmt.Sprint(got) != tt.want || res.Position.Offset != 5 || res.Position.Epoch != empty.Position.Epoch {
					t.Fatalf("got %v at %+v, want %s at 5", got, res.Position, tt.want)
				}
			})
		}
		// The history size of the newest publish bounds what is returned.
		small := pubsub.PublishOptions{HistorySize: 2, HistoryTTL: time.Hour}
		for range 3 {
			if _, err := a.Publish(ctx, "small", []byte(`1`), small); err != nil {
				t.Fatal(err)
			}
		}
		res, err := b.History(ctx, "small", pubsub.HistoryFilter{Limit: -1})
		if err != nil || len(res.Publications) != 2 || res.Publications[0].Offset != 2 {
			t.Fatalf("history of a size-2 channel: %+v %v", res, err)
		}
	})
}

func TestEngineUnsequencedAndEvents(t *testing.T) {
	eachEngine(t, func(t *testing.T, c cluster) {
		ctx := context.Background()
		a, _ := c.node(t)
		b, evB := c.node(t)
		if err := b.Subscribe("live"); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			sp, err := a.Publish(ctx, "live", []byte(fmt.Sprint(i)), pubsub.PublishOptions{Info: &pubsub.ClientInfo{Client: "c1"}})
			if err != nil || sp != (pubsub.StreamPosition{}) {
				t.Fatalf("unsequenced publish: %+v %v", sp, err)
			}
		}
		info := &pubsub.ClientInfo{Client: "c1", User: "ann"}
		if err := a.PublishJoin(ctx, "live", info); err != nil {
			t.Fatal(err)
		}
		if err := a.PublishLeave(ctx, "live", info); err != nil {
			t.Fatal(err)
		}
		evB.waitFor(t, "three publications, a join and a leave", func() bool {
			return len(evB.pubs["live"]) == 3 && evB.joins["live"] == 1 && evB.leaves["live"] == 1
		})
		for i, p := range evB.pubs["live"] {
			// One publisher's unsequenced publications keep their order.
			if p.Offset != 0 || string(p.Data) != fmt.Sprint(i) || p.Info == nil || p.Info.Client != "c1" {
				t.Fatalf("publication %d: %+v", i, p)
			}
		}
	})
}

func TestEnginePresence(t *testing.T) {
	eachEngine(t, func(t *testing.T, c cluster) {
		ctx := context.Background()
		a, _ := c.node(t)
		b, _ := c.node(t)
		waitNodes(t, a, 2)
		if err := a.AddPresence(ctx, "p", "c1", &pubsub.ClientInfo{Client: "c1", User: "ann"}, 2); err != nil {
			t.Fatal(err)
		}
		if err := b.AddPresence(ctx, "p", "c2", &pubsub.ClientInfo{Client: "c2", User: "ann"}, 2); err != nil {
			t.Fatal(err)
		}
		// The channel lists two members anywhere: a third is refused on either node.
		if err := b.AddPresence(ctx, "p", "c3", &pubsub.ClientInfo{Client: "c3"}, 2); err != pubsub.ErrPresenceFull {
			t.Fatalf("third member: %v, want ErrPresenceFull", err)
		}
		for name, e := range map[string]engine{"a": a, "b": b} {
			members, err := e.Presence(ctx, "p")
			if err != nil || len(members) != 2 || members["c1"] == nil || members["c2"] == nil {
				t.Fatalf("presence on %s: %v %v", name, members, err)
			}
			st, err := e.PresenceStats(ctx, "p")
			if err != nil || st != (pubsub.PresenceStats{Clients: 2, Users: 1}) {
				t.Fatalf("stats on %s: %+v %v", name, st, err)
			}
		}
		if err := a.RemovePresence(ctx, "p", "c1"); err != nil {
			t.Fatal(err)
		}
		if members, _ := b.Presence(ctx, "p"); len(members) != 1 || members["c2"] == nil {
			t.Fatalf("after leaving: %v", members)
		}
	})
}

// waitNodes waits until a NATS node knows n live nodes (presence asks that many); Memory is
// one node.
func waitNodes(t *testing.T, e engine, n int) {
	t.Helper()
	b, ok := e.(*NATS)
	if !ok {
		return
	}
	for deadline := time.Now().Add(guard); len(b.Nodes()) < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d nodes heard", len(b.Nodes()), n)
		}
	}
}

// TestEngineConcurrentPublishers: several nodes publish to one channel at once; a node
// watching it gets every offset exactly once, in order, and the publishers' positions are
// exactly those offsets.
func TestEngineConcurrentPublishers(t *testing.T) {
	eachEngine(t, func(t *testing.T, c cluster) {
		ctx := context.Background()
		watcher, ev := c.node(t)
		if err := watcher.Subscribe("race"); err != nil {
			t.Fatal(err)
		}
		const publishers, each = 3, 100
		var pubs []engine
		for range publishers {
			p, _ := c.node(t)
			pubs = append(pubs, p)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[uint64]bool{}
		for i, p := range pubs {
			wg.Go(func() {
				for j := range each {
					sp, err := p.Publish(ctx, "race", []byte(fmt.Sprintf(`"%d-%d"`, i, j)), hist)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if seen[sp.Offset] {
						t.Errorf("offset %d given twice", sp.Offset)
					}
					seen[sp.Offset] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		ev.waitFor(t, "every publication", func() bool { return len(ev.pubs["race"]) >= publishers*each })
		ev.mu.Lock()
		defer ev.mu.Unlock()
		for i, p := range ev.pubs["race"] {
			if p.Offset != uint64(i+1) {
				t.Fatalf("delivery %d has offset %d", i, p.Offset)
			}
		}
		if len(seen) != publishers*each {
			t.Fatalf("%d distinct offsets acknowledged", len(seen))
		}
	})
}
