package broker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/pubsub"
)

// recorder is a Handler that keeps what it is given.
type recorder struct {
	mu            sync.Mutex
	pubs          []uint64
	joins, leaves int
}

func (r *recorder) HandlePublication(_ string, p *pubsub.Publication, _ pubsub.StreamPosition) {
	r.mu.Lock()
	r.pubs = append(r.pubs, p.Offset)
	r.mu.Unlock()
}
func (r *recorder) HandleJoin(string, *pubsub.ClientInfo)  { r.mu.Lock(); r.joins++; r.mu.Unlock() }
func (r *recorder) HandleLeave(string, *pubsub.ClientInfo) { r.mu.Lock(); r.leaves++; r.mu.Unlock() }

func newTestMemory(t *testing.T) (*Memory, *recorder, *time.Time) {
	t.Helper()
	m := NewMemory(time.Hour)
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	rec := &recorder{}
	if err := m.Run(rec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m, rec, &now
}

func TestMemoryHistory(t *testing.T) {
	ctx := context.Background()
	opts := pubsub.PublishOptions{HistorySize: 3, HistoryTTL: time.Minute}
	tests := []struct {
		name       string
		publish    int
		advance    time.Duration // clock moves before reading
		filter     pubsub.HistoryFilter
		wantOffset uint64
		want       []uint64
	}{
		{"empty stream", 0, 0, pubsub.HistoryFilter{Limit: -1}, 0, nil},
		{"all kept", 2, 0, pubsub.HistoryFilter{Limit: -1}, 2, []uint64{1, 2}},
		{"size bound keeps the newest", 5, 0, pubsub.HistoryFilter{Limit: -1}, 5, []uint64{3, 4, 5}},
		{"limit takes the newest", 5, 0, pubsub.HistoryFilter{Limit: 2}, 5, []uint64{4, 5}},
		{"limit 0 gives only the position", 5, 0, pubsub.HistoryFilter{Limit: 0}, 5, nil},
		{"since takes what follows", 5, 0, pubsub.HistoryFilter{Since: &pubsub.StreamPosition{Offset: 3}, Limit: -1}, 5, []uint64{4, 5}},
		{"since with limit takes the oldest after", 5, 0, pubsub.HistoryFilter{Since: &pubsub.StreamPosition{Offset: 2}, Limit: 2}, 5, []uint64{3, 4}},
		{"ttl expires everything, offset stays", 4, 2 * time.Minute, pubsub.HistoryFilter{Limit: -1}, 4, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, now := newTestMemory(t)
			for i := 0; i < tt.publish; i++ {
				if _, err := m.Publish(ctx, "c", []byte(`1`), opts); err != nil {
					t.Fatal(err)
				}
			}
			*now = now.Add(tt.advance)
			res, err := m.History(ctx, "c", tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, p := range res.Publications {
				got = append(got, p.Offset)
			}
			if res.Position.Offset != tt.wantOffset || len(got) != len(tt.want) {
				t.Fatalf("got offset %d pubs %v, want %d %v", res.Position.Offset, got, tt.wantOffset, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestMemoryEpochs(t *testing.T) {
	ctx := context.Background()
	m, _, now := newTestMemory(t)
	opts := pubsub.PublishOptions{HistorySize: 1, HistoryTTL: time.Minute}
	sp, _ := m.Publish(ctx, "c", []byte(`1`), opts)
	if sp.Epoch == "" || sp.Offset != 1 {
		t.Fatalf("position %+v", sp)
	}
	sp2, _ := m.Publish(ctx, "c", []byte(`1`), opts)
	if sp2.Offset != 2 || sp2.Epoch != sp.Epoch {
		t.Fatalf("second position %+v", sp2)
	}
	// Without history a publication is unsequenced and leaves the stream as it was.
	if sp3, _ := m.Publish(ctx, "c", []byte(`1`), pubsub.PublishOptions{}); sp3 != (pubsub.StreamPosition{}) {
		t.Fatalf("unsequenced position %+v", sp3)
	}
	*now = now.Add(2 * time.Minute) // past the history TTL: the publications go, the stream stays
	m.reapOnce()
	// An idle stream is forgotten after metaTTL; it comes back with a new epoch, so old
	// positions cannot be mistaken for positions in the new stream.
	*now = now.Add(2 * time.Hour)
	m.reapOnce()
	res, _ := m.History(ctx, "c", pubsub.HistoryFilter{})
	if res.Position.Offset != 0 || res.Position.Epoch == sp.Epoch {
		t.Fatalf("after expiry: %+v (old epoch %s)", res.Position, sp.Epoch)
	}
	// Another engine (a restart) never reuses an epoch.
	other := NewMemory(time.Hour)
	if r2, _ := other.History(ctx, "c", pubsub.HistoryFilter{}); r2.Position.Epoch == res.Position.Epoch {
		t.Fatal("two engines produced the same epoch")
	}
}

func TestMemoryDeliversInOffsetOrder(t *testing.T) {
	ctx := context.Background()
	m, rec, _ := newTestMemory(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				m.Publish(ctx, "c", []byte(`1`), pubsub.PublishOptions{HistorySize: 1, HistoryTTL: time.Minute})
			}
		}()
	}
	wg.Wait()
	if len(rec.pubs) != 4000 {
		t.Fatalf("%d deliveries", len(rec.pubs))
	}
	for i, off := range rec.pubs {
		if off != uint64(i+1) {
			t.Fatalf("delivery %d has offset %d", i, off)
		}
	}
}

func TestMemoryPresence(t *testing.T) {
	ctx := context.Background()
	m, rec, _ := newTestMemory(t)
	a := &pubsub.ClientInfo{Client: "a", User: "u1"}
	b := &pubsub.ClientInfo{Client: "b", User: "u1"}
	c := &pubsub.ClientInfo{Client: "c"}
	for _, ci := range []*pubsub.ClientInfo{a, b} {
		if err := m.AddPresence(ctx, "ch", ci.Client, ci, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.AddPresence(ctx, "ch", "c", c, 2); !errors.Is(err, pubsub.ErrPresenceFull) {
		t.Fatalf("third member with cap 2: %v", err)
	}
	if err := m.AddPresence(ctx, "ch", "a", a, 2); err != nil {
		t.Fatalf("re-adding a listed member must not count against the cap: %v", err)
	}
	st, _ := m.PresenceStats(ctx, "ch")
	if st.Clients != 2 || st.Users != 1 {
		t.Fatalf("stats %+v", st)
	}
	m.RemovePresence(ctx, "ch", "a")
	p, _ := m.Presence(ctx, "ch")
	if len(p) != 1 || p["b"] == nil {
		t.Fatalf("presence %v", p)
	}
	m.PublishJoin(ctx, "ch", a)
	m.PublishLeave(ctx, "ch", a)
	if rec.joins != 1 || rec.leaves != 1 {
		t.Fatalf("join/leave %d/%d", rec.joins, rec.leaves)
	}
}

func TestMemoryReaping(t *testing.T) {
	ctx := context.Background()
	m, _, now := newTestMemory(t) // metaTTL: one hour
	opts := pubsub.PublishOptions{HistorySize: 10, HistoryTTL: time.Minute}
	m.History(ctx, "read-only", pubsub.HistoryFilter{}) // a position read: offset 0
	m.Publish(ctx, "published", []byte(`1`), opts)
	m.Subscribe("watched")
	watched, _ := m.History(ctx, "watched", pubsub.HistoryFilter{})

	*now = now.Add(2 * time.Minute)
	m.reapOnce()
	if n := m.streamCount(); n != 2 {
		t.Fatalf("after 2 min: %d streams, want 2 (the never-published unwatched one goes first)", n)
	}
	*now = now.Add(2 * time.Hour)
	m.reapOnce()
	if n := m.streamCount(); n != 1 {
		t.Fatalf("after the meta TTL: %d streams, want only the subscribed one", n)
	}
	if r, _ := m.History(ctx, "watched", pubsub.HistoryFilter{}); r.Position != watched.Position {
		t.Fatalf("a subscribed stream changed position: %+v → %+v", watched.Position, r.Position)
	}
	m.Unsubscribe("watched")
	*now = now.Add(2 * time.Minute)
	m.reapOnce()
	if n := m.streamCount(); n != 0 {
		t.Fatalf("after unsubscribe and idling: %d streams", n)
	}
}
