package signal

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/switchboard/switchboard/internal/store"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

// TestHeadsFollowChanges: with the head cache on, a head read after a change to its offer
// has returned sees the change: an answer, new tags, a delete, a reclaimed id; a cached head
// past its expiry is not found; and a read that began before a drop does not store what it
// read.
func TestHeadsFollowChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.DB) {
		ctx := context.Background()
		d := migrated(t, st)
		d.heads = newHeadCache()
		const now = 1_000_000
		head := func(id string, at int64) *offer {
			t.Helper()
			o, err := d.getOfferHead(ctx, gen2, id, at)
			if err != nil {
				t.Fatalf("head of %s: %v", id, err)
			}
			return o
		}
		gone := func(id string, at int64, why string) {
			t.Helper()
			if o, err := d.getOfferHead(ctx, gen2, id, at); !errors.Is(err, errNotFound) {
				t.Fatalf("%s: head %+v, %v; want not found", why, o, err)
			}
		}
		offers := []newOffer{{SDP: "a", Tags: []string{"t"}, ExpiresAt: now + 1000}}
		if err := d.createOffers(ctx, gen2, "alice", offers, quota{}, now); err != nil {
			t.Fatal(err)
		}
		id := offers[0].ID
		if o := head(id, now); o.Owner != "alice" || o.Answered || o.ExpiresAt != now+1000 {
			t.Fatalf("head %+v", o)
		}
		if _, ok := d.heads.get(gen2, id, now); !ok {
			t.Fatal("a head read was not cached")
		}

		if _, err := d.answer(ctx, gen2, id, "", "bob", "sdp", nil, 0, now, false); err != nil {
			t.Fatal(err)
		}
		if o := head(id, now); o.Answerer != "bob" || !o.Answered {
			t.Fatalf("after the answer: head %+v", o)
		}

		if _, err := d.replaceTags(ctx, gen2, "alice", []string{"u"}, now); err != nil {
			t.Fatal(err)
		}
		if o := head(id, now); !slices.Equal(o.Tags, []string{"u"}) {
			t.Fatalf("after new tags: head %+v", o)
		}

		head(id, now) // cached again
		gone(id, now+1000, "past its expiry")

		if ok, err := d.deleteOffer(ctx, gen2, id, "alice"); !ok || err != nil {
			t.Fatalf("delete: %v, %v", ok, err)
		}
		gone(id, now, "after the delete")

		// A client-chosen id (G1's codes) reclaims an expired offer's: the new offer's head.
		mine := []newOffer{{ID: "code", SDP: "x", Tags: []string{"t"}, ExpiresAt: now + 10}}
		if err := d.createOffers(ctx, gen2, "carol", mine, quota{}, now); err != nil {
			t.Fatal(err)
		}
		head("code", now)
		later := int64(now + 20)
		again := []newOffer{{ID: "code", SDP: "y", Tags: []string{"t"}, ExpiresAt: later + 1000}}
		if err := d.createOffers(ctx, gen2, "dave", again, quota{}, later); err != nil {
			t.Fatal(err)
		}
		if o := head("code", later); o.Owner != "dave" {
			t.Fatalf("a reclaimed id: head %+v", o)
		}

		// A read that began before a drop: what it read may predate the change.
		seen := d.heads.begin()
		stale := *head("code", later)
		d.heads.drop(gen2, "code")
		d.heads.put(&stale, seen)
		if _, ok := d.heads.get(gen2, "code", later); ok {
			t.Fatal("a read that began before a drop was stored")
		}
		seen = d.heads.begin()
		d.heads.dropAll()
		d.heads.put(&stale, seen)
		if _, ok := d.heads.get(gen2, "code", later); ok {
			t.Fatal("a read that began before dropping all was stored")
		}
	})
}
