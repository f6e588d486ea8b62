package signal

import (
	"encoding/json"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// G2 discovery (GET /offers/by-topic/:topic) is most of a signaling server's reads: every
// peer polls its topic. topics keeps each polled topic's live, unanswered offers, newest
// first and encoded as the answer shows them, so a poll costs no query while nothing changed.
//
// What makes an entry stale:
//   - a write to the offers on this node (db.changed bumps a counter an entry is tagged with,
//     read before its queries and bumped after each commit), so this node's own writes show
//     in its next answer, as without the cache;
//   - the first expiry among its offers;
//   - its age past discovery_cache_ttl: the bound on how long a node's answer may miss
//     another node's writes (nodes on one PostgreSQL). 0 turns the cache off.
//
// A topic with more offers than topicMaxOffers, or whose offers' JSON outgrows
// topicMaxBytes, is not kept; it is read as before (the page's offers only).
const (
	topicMaxOffers = 256
	topicMaxBytes  = 256 << 10
	topicsKept     = 256 // so at most 64 MB
)

// listedOffer is one offer of a topic's listing.
type listedOffer struct {
	owner string
	json  []byte // public(o, true), encoded
}

// listOffer encodes o as discovery lists it.
func listOffer(o *offer) listedOffer {
	b, _ := json.Marshal(public(o, true)) // strings, numbers and a bool: cannot fail
	return listedOffer{owner: o.Owner, json: b}
}

// topicList is one topic's kept listing.
type topicList struct {
	version uint64 // of the writes counter, read before the listing's queries
	filled  time.Time
	until   int64 // ms: the first expiry among the offers
	offers  []listedOffer
}

// topics is the cache of G2 listings.
type topics struct {
	ttl     time.Duration
	writes  *atomic.Uint64 // the store's count of offer writes on this node (db.writes)
	entries *lru.Cache[string, *topicList]
}

func newTopics(ttl time.Duration, writes *atomic.Uint64) *topics {
	c, _ := lru.New[string, *topicList](topicsKept) // errors only for a size ≤ 0
	return &topics{ttl: ttl, writes: writes, entries: c}
}

// version is the counter to tag a listing with: read it before the queries that fill one.
func (t *topics) version() uint64 { return t.writes.Load() }

// get returns topic's listing if it still holds at at.
func (t *topics) get(topic string, at time.Time) ([]listedOffer, bool) {
	if t.ttl <= 0 {
		return nil, false
	}
	e, ok := t.entries.Get(topic)
	if !ok || e.version != t.writes.Load() || at.UnixMilli() >= e.until || at.Sub(e.filled) >= t.ttl || at.Before(e.filled) {
		return nil, false
	}
	return e.offers, true
}

// put encodes offers (every live unanswered offer of topic, in listing order, as read at at,
// after version was taken) and keeps them unless they are too many or too large.
func (t *topics) put(topic string, version uint64, at time.Time, offers []*offer) []listedOffer {
	out := make([]listedOffer, len(offers))
	until, size := int64(-1), 0
	for i, o := range offers {
		out[i] = listOffer(o)
		size += len(out[i].json)
		if until < 0 || o.ExpiresAt < until {
			until = o.ExpiresAt
		}
	}
	if t.ttl <= 0 || len(offers) > topicMaxOffers || size > topicMaxBytes {
		t.entries.Remove(topic)
		return out
	}
	if until < 0 {
		until = at.Add(t.ttl).UnixMilli() // no offer: stale once the age runs out
	}
	t.entries.Add(topic, &topicList{version: version, filled: at, until: until, offers: out})
	return out
}
