package signal

import (
	"hash/maphash"
	"sync"
)

// headCache keeps offers' heads (getOfferHead) on a node whose store no other node writes
// (SQLite). Every G2 candidate and answer call reads its offer's head to decide who the caller
// is, and on SQLite each such read started on a cold page cache, because any commit resets
// every reader's: 13–14% of the server's CPU in a profile of 128 pairs of exchanges. An
// exchange reads one offer's head five times and changes it twice (the answer, the delete).
//
// What it promises: a head read after a change to that offer has committed and returned to
// its caller is never an older one. The functions of db that change a live offer's head
// (answer and deleteOffer drop its entry, replaceTags all of them) drop after their commit
// and before they return, and a read that started before a drop does not store what it read
// (begin/put below): it may have read the row before the commit. Expiry needs no drop: a
// cached head carries its expiry and is checked against now. So neither cleanup nor
// createOffers drops: one deletes only expired offers, the other reclaims only an expired
// offer's id (a live one is refused), and a cached head past its expiry is never returned.
// With PostgreSQL other nodes write the same rows, so there is no cache (db.heads is nil).
type headCache struct {
	mu      sync.Mutex
	entries map[headKey]offer
	// seq counts drops; dropped[slot] is the seq of the last drop in the slot of an id's
	// hash, and cleared that of the last drop of everything. A read stores its head only if
	// neither moved since it began.
	seq     uint64
	dropped [256]uint64
	cleared uint64
	seed    maphash.Seed
}

// maxHeads bounds the cache; past it, it starts again empty (an exchange's offer lives for
// seconds, so what is dropped is mostly done with).
const maxHeads = 20_000

func newHeadCache() *headCache {
	return &headCache{entries: map[headKey]offer{}, seed: maphash.MakeSeed()}
}

// headKey is an offer's generation and id (a struct, not a joined string: no allocation per
// lookup).
type headKey struct {
	gen int
	id  string
}

func (h *headCache) slot(k headKey) int {
	return int((maphash.String(h.seed, k.id) + uint64(k.gen)) % 256)
}

// get returns a copy of the cached head of a live offer (expires after now).
func (h *headCache) get(gen int, id string, now int64) (*offer, bool) {
	h.mu.Lock()
	o, ok := h.entries[headKey{gen, id}]
	h.mu.Unlock()
	if !ok || o.ExpiresAt <= now {
		return nil, false
	}
	return &o, true
}

// begin is called before reading a head from the store; put is given what it returned.
func (h *headCache) begin() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seq
}

// put stores o unless its offer's slot, or everything, was dropped since begin returned
// seen: the read may then have seen the row before the change that the drop followed.
func (h *headCache) put(o *offer, seen uint64) {
	key := headKey{o.Gen, o.ID}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dropped[h.slot(key)] > seen || h.cleared > seen {
		return
	}
	if len(h.entries) >= maxHeads {
		h.entries = map[headKey]offer{}
	}
	h.entries[key] = *o
}

// drop forgets an offer's head; its change has committed.
func (h *headCache) drop(gen int, id string) {
	key := headKey{gen, id}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.dropped[h.slot(key)] = h.seq
	delete(h.entries, key)
}

// dropAll forgets every head.
func (h *headCache) dropAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.cleared = h.seq
	h.entries = map[headKey]offer{}
}
