package signal

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchboard/switchboard/internal/store"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

func migrated(t testing.TB, st *store.DB) db {
	t.Helper()
	if err := st.Migrate(context.Background(), "signal", migrations); err != nil {
		t.Fatal(err)
	}
	return db{DB: st}
}

// TestExpiryAndCleanup: an expired offer is invisible at once, before any sweep; the sweep
// then deletes it with its tags and candidates, and expired nonces.
func TestExpiryAndCleanup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.DB) {
		ctx := context.Background()
		d := migrated(t, st)
		const now = 1_000_000
		offers := []newOffer{{SDP: "a", Tags: []string{"t"}, ExpiresAt: now + 10}, {SDP: "b", Tags: []string{"t"}, ExpiresAt: now + 1000}}
		if err := d.createOffers(ctx, gen2, "peer", offers, quota{}, now); err != nil {
			t.Fatal(err)
		}
		if _, err := d.addCandidates(ctx, gen2, offers[0].ID, "peer", "offerer", []json.RawMessage{[]byte(`"c"`)}, 0, now); err != nil {
			t.Fatal(err)
		}
		later := int64(now + 10)
		if _, err := d.getOffer(ctx, gen2, offers[0].ID, later); err != errNotFound {
			t.Fatalf("expired offer visible: %v", err)
		}
		if n, _ := d.countOffers(ctx, filter{Gen: gen2, Now: later}, false); n != 1 {
			t.Fatalf("count after expiry %d", n)
		}
		if _, err := d.answer(ctx, gen2, offers[0].ID, "", "x", "sdp", nil, 0, later, false); err != errNotFound {
			t.Fatalf("answering an expired offer: %v", err)
		}
		if ok, _ := d.useNonce(ctx, "n1", now); !ok {
			t.Fatal("fresh nonce refused")
		}
		if ok, _ := d.useNonce(ctx, "n1", now); ok {
			t.Fatal("nonce reused")
		}
		gone, nonces, err := d.cleanup(ctx, later+1)
		if err != nil || gone != 1 || nonces != 1 {
			t.Fatalf("cleanup = %d offers, %d nonces, %v", gone, nonces, err)
		}
		var left int
		if err := st.Read().QueryRow(`SELECT COUNT(*) FROM signal_candidates`).Scan(&left); err != nil || left != 0 {
			t.Fatalf("candidates left %d, %v", left, err)
		}
		if err := st.Read().QueryRow(`SELECT COUNT(*) FROM signal_offer_tags`).Scan(&left); err != nil || left != 1 {
			t.Fatalf("tags left %d, %v", left, err)
		}
	})
}

// TestCursorNeverSkips: writers add candidates concurrently while a reader polls with the
// newest time it saw as its cursor, as the client does; it must end up with every row
// (rondevu's now+index times could put a later commit behind the cursor: spec A4.7).
func TestCursorNeverSkips(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.DB) {
		ctx := context.Background()
		d := migrated(t, st)
		offers := []newOffer{{SDP: "a", Tags: []string{"t"}, ExpiresAt: 1 << 60}}
		if err := d.createOffers(ctx, gen4, "owner", offers, quota{}, 1); err != nil {
			t.Fatal(err)
		}
		id := offers[0].ID
		const writers, each = 4, 25
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					c := json.RawMessage(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))
					// A fixed "now" makes every writer want the same time: only the clock
					// row keeps them apart.
					if _, err := d.addCandidates(ctx, gen4, id, "owner", "offerer", []json.RawMessage{c, c}, 0, 5); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		seen := map[int64]bool{}
		var cursor int64
		poll := func() {
			cs, err := d.candidates(ctx, gen4, []string{id}, "offerer", cursor)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				if seen[c.ID] {
					t.Fatalf("row %d returned twice", c.ID)
				}
				seen[c.ID] = true
				cursor = max(cursor, c.CreatedAt)
			}
		}
		for finished := false; !finished; {
			select {
			case <-done:
				finished = true
			default:
			}
			poll()
		}
		poll()
		if len(seen) != writers*each*2 {
			t.Fatalf("the cursor saw %d of %d rows", len(seen), writers*each*2)
		}
	})
}

// TestWritesCounted: every write that can change a discovery listing counts on the node's
// writes counter once it is done, which is what makes a kept listing (topics) stale.
func TestWritesCounted(t *testing.T) {
	ctx := context.Background()
	d := migrated(t, storetest.SQLite(t))
	d.writes = new(atomic.Uint64)
	const now = 1_000_000
	offers := []newOffer{{SDP: "a", Tags: []string{"t"}, ExpiresAt: now + 1000}, {SDP: "b", Tags: []string{"t"}, ExpiresAt: now + 1000}}
	tests := []struct {
		name  string
		write func() error
	}{
		{"create", func() error { return d.createOffers(ctx, gen2, "peer", offers, quota{}, now) }},
		{"heartbeat", func() error { return d.touch(ctx, gen2, offers[0].ID, now+1) }},
		{"answer", func() error {
			_, err := d.answer(ctx, gen2, offers[0].ID, "", "other", "sdp", nil, 0, now, false)
			return err
		}},
		{"retag", func() error {
			_, err := d.replaceTags(ctx, gen2, "peer", []string{"u"}, now)
			return err
		}},
		{"delete", func() error {
			_, err := d.deleteOffer(ctx, gen2, offers[1].ID, "peer")
			return err
		}},
		{"sweep", func() error {
			_, _, err := d.cleanup(ctx, now+2000)
			return err
		}},
	}
	for _, tt := range tests {
		before := d.writes.Load()
		if err := tt.write(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if d.writes.Load() == before {
			t.Errorf("%s did not count as a write", tt.name)
		}
	}
}
