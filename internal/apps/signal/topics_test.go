package signal_test

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/apps/signal"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

// listing is a by-topic answer.
type listing struct {
	Topic  string
	Offers []struct {
		ID, PeerID string
		LastSeen   int64
	}
	Total, Returned int
}

func (l listing) ids() []string {
	var out []string
	for _, o := range l.Offers {
		out = append(out, o.ID)
	}
	return out
}

func byTopic(t *testing.T, base, topic string, query ...string) listing {
	t.Helper()
	u := base + "/offers/by-topic/" + topic
	if len(query) > 0 {
		u += "?" + query[0]
	}
	r := do(t, "GET", u, nil)
	want(t, r, 200)
	var l listing
	if err := json.Unmarshal(r.Body, &l); err != nil || l.Topic != topic || l.Returned != len(l.Offers) {
		t.Fatalf("by-topic answered %s (%v)", r.Body, err)
	}
	return l
}

// offerOn publishes one offer of p on topic and returns its id.
func offerOn(t *testing.T, p g2Peer, topic, sdp string, ttl int) string {
	t.Helper()
	r := p.do(t, "POST", "/offers", map[string]any{"offers": []any{map[string]any{"sdp": sdp, "topics": []string{topic}, "ttl": ttl}}})
	want(t, r, 200)
	var created struct{ Offers []struct{ ID string } }
	if err := json.Unmarshal(r.Body, &created); err != nil || len(created.Offers) != 1 {
		t.Fatalf("created %s", r.Body)
	}
	return created.Offers[0].ID
}

func cacheTTL(ms int64) func(*config.Config) {
	return func(c *config.Config) { signal.Settings(*c).DiscoveryCacheTTL = ms }
}

// TestDiscoveryCacheOwnWrites: with a cache that would keep a listing for a minute, every
// write of this node shows in its next by-topic answer (the cache is no reason to see less
// than a read of the store would).
func TestDiscoveryCacheOwnWrites(t *testing.T) {
	eachStore(t, func(t *testing.T, useStore func(*config.Config)) {
		n := startNode(t, func(c *config.Config) { useStore(c); cacheTTL(60000)(c) })
		base := n.URL + "/rondevu"
		alice, bob := register(t, base), register(t, base)
		if l := byTopic(t, base, "cached"); l.Total != 0 {
			t.Fatalf("a new topic lists %+v", l)
		}
		a := offerOn(t, alice, "cached", "v=0 a", 300000)
		if l := byTopic(t, base, "cached"); !slices.Equal(l.ids(), []string{a}) || l.Total != 1 {
			t.Fatalf("after alice's offer: %+v", l)
		}
		b := offerOn(t, bob, "cached", "v=0 b", 300000)
		if l := byTopic(t, base, "cached"); !slices.Equal(l.ids(), []string{b, a}) || l.Total != 2 {
			t.Fatalf("after bob's offer, newest first: %+v", l)
		}
		// A heartbeat moves alice's offer first.
		want(t, alice.do(t, "PUT", "/offers/"+a+"/heartbeat", nil), 200)
		if l := byTopic(t, base, "cached"); !slices.Equal(l.ids(), []string{a, b}) {
			t.Fatalf("after alice's heartbeat: %v", l.ids())
		}
		// The bloom filter and the limit apply to a kept listing.
		filter := base64.StdEncoding.EncodeToString(signal.NewBloom(128, alice.id))
		if l := byTopic(t, base, "cached", "bloom="+url.QueryEscape(filter)); !slices.Equal(l.ids(), []string{b}) || l.Total != 1 {
			t.Fatalf("alice filtered out: %+v", l)
		}
		if l := byTopic(t, base, "cached", "limit=1"); !slices.Equal(l.ids(), []string{a}) || l.Total != 2 {
			t.Fatalf("limit 1: %+v", l)
		}
		want(t, bob.do(t, "POST", "/offers/"+a+"/answer", map[string]any{"sdp": "v=0 answer"}), 200)
		if l := byTopic(t, base, "cached"); !slices.Equal(l.ids(), []string{b}) {
			t.Fatalf("after the answer to alice: %v", l.ids())
		}
		want(t, bob.do(t, "DELETE", "/offers/"+b, nil), 200)
		if l := byTopic(t, base, "cached"); l.Total != 0 {
			t.Fatalf("after bob's delete: %+v", l)
		}
	})
}

// TestDiscoveryCacheExpiry: a kept listing ends with its first offer's expiry, however long
// the cache would keep it otherwise.
func TestDiscoveryCacheExpiry(t *testing.T) {
	n := startNode(t, func(c *config.Config) { cacheTTL(60000)(c); signal.Settings(*c).OfferMinTTL = 1000 })
	base := n.URL + "/rondevu"
	alice := register(t, base)
	short := offerOn(t, alice, "expiring", "v=0 short", 1000)
	long := offerOn(t, alice, "expiring", "v=0 long", 300000)
	if l := byTopic(t, base, "expiring"); len(l.Offers) != 2 {
		t.Fatalf("listed %v, want both", l.ids())
	}
	for deadline := time.Now().Add(guard); ; time.Sleep(50 * time.Millisecond) {
		l := byTopic(t, base, "expiring")
		if slices.Equal(l.ids(), []string{long}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still listed %s after its expiry: %v", short, guard, l.ids())
		}
	}
}

// TestDiscoveryCacheAcrossNodes: another node's write reaches a node's answer once its
// listing is older than discovery_cache_ttl; with 0, at once. Two nodes on one PostgreSQL.
func TestDiscoveryCacheAcrossNodes(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	tests := []struct {
		name string
		ttl  int64
	}{
		{"off", 0},
		{"a short bound", 300},
		{"a minute", 60000},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := "across" + strconv.Itoa(i)
			reader := startNode(t, func(c *config.Config) { c.Store = dsn; cacheTTL(tt.ttl)(c) })
			writer := startNode(t, func(c *config.Config) { c.Store = dsn })
			rbase, wbase := reader.URL+"/rondevu", writer.URL+"/rondevu"
			if l := byTopic(t, rbase, topic); l.Total != 0 {
				t.Fatalf("a new topic lists %+v", l)
			}
			id := offerOn(t, register(t, wbase), topic, "v=0 elsewhere", 300000)
			seen := func() bool { return slices.Equal(byTopic(t, rbase, topic).ids(), []string{id}) }
			switch {
			case tt.ttl == 0:
				if !seen() {
					t.Fatal("with the cache off, the other node's offer is not listed at once")
				}
			case tt.ttl >= int64(2*guard/time.Millisecond):
				// Within the bound, as documented: the reader keeps its empty listing.
				if seen() {
					t.Fatal("listed at once: the listing was not kept")
				}
			default:
				for deadline := time.Now().Add(guard); !seen(); time.Sleep(50 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("not listed %s after the write, with a bound of %d ms", guard, tt.ttl)
					}
				}
			}
		})
	}
}

// TestDiscoveryLargeTopic: a topic with more offers than a listing keeps is read from the
// store on every request, with its total and page right.
func TestDiscoveryLargeTopic(t *testing.T) {
	n := startNode(t, cacheTTL(60000))
	base := n.URL + "/rondevu"
	alice, bob := register(t, base), register(t, base)
	const each = 150 // two peers: 300, over the 256 a listing keeps
	for _, p := range []g2Peer{alice, bob} {
		for batch := 0; batch < each; batch += 50 {
			var offers []any
			for i := range 50 {
				offers = append(offers, map[string]any{"sdp": "v=0 " + p.id + strconv.Itoa(batch+i), "topics": []string{"big"}, "ttl": 300000})
			}
			want(t, p.do(t, "POST", "/offers", map[string]any{"offers": offers}), 200)
		}
	}
	l := byTopic(t, base, "big", "limit=10")
	if l.Total != 2*each || l.Returned != 10 || l.Offers[0].PeerID != bob.id {
		t.Fatalf("total %d returned %d, first by %s; want %d, 10, bob's", l.Total, l.Returned, l.Offers[0].PeerID, 2*each)
	}
	filter := base64.StdEncoding.EncodeToString(signal.NewBloom(256, bob.id))
	l = byTopic(t, base, "big", "limit=200&bloom="+url.QueryEscape(filter))
	if l.Total != each || l.Returned != 150 {
		t.Fatalf("bob filtered out: total %d returned %d, want %d and 150", l.Total, l.Returned, each)
	}
	for _, o := range l.Offers {
		if o.PeerID != alice.id {
			t.Fatalf("an offer of %s listed, want only alice's", o.PeerID)
		}
	}
	offerOn(t, alice, "big", "v=0 one more", 300000)
	if l := byTopic(t, base, "big"); l.Total != 2*each+1 {
		t.Fatalf("total %d after one more, want %d", l.Total, 2*each+1)
	}
}
