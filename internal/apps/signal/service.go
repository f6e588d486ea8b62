// Package signal is the rondevu-compatible WebRTC signaling surface: three generations of
// rondevu's HTTP API over one store. G2 (register, peerId+secret credentials, offers with
// topics, bloom-filter discovery) is the generation of the seed; G1 is the older
// topic/session API; G4 the newest signed-RPC API. ../shared/specs/rondevu-and-frust.md part A
// is the wire specification; comments cite its sections.
//
// Beyond rondevu, every answer and candidate is also pushed to the waiting peer over the
// native WebSocket/SSE API (push.go), so a client need not poll.
package signal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/module"
	"github.com/switchboard/switchboard/internal/server"
	"github.com/switchboard/switchboard/internal/store"
)

// Service is the signaling core the three generations share: the store, the keys, the clock
// and the push channels.
type Service struct {
	cfg     Config
	db      db
	hub     *hub.Hub
	log     *slog.Logger
	version string
	now     func() time.Time // tests move it

	credKey []byte // G2 credentials (AES-256-GCM)
	pushKey []byte // names of push channels (HMAC-SHA256)
	push    pushOptions

	rpcLimit *httpx.IPLimiter // G4 requests per IP; nil when off
	bodyMax  int64

	// ivs caches which credential each G2 id was last issued with (peerIV), for ivTTL: a
	// peer's burst of calls costs one read. Another node's re-registration of a freed id
	// reaches this node's cache within ivTTL; this node's own, at once.
	ivs *lru.Cache[string, cachedIV]

	// live caches, per generation, the count of all live offers for the total quota, for a
	// second: counting reads every live offer, and the total limit is a safety cap that a
	// second's worth of publishes may overshoot by a little.
	liveMu       sync.Mutex
	live         map[int]cachedCount
	liveCounting atomic.Bool // a publisher is counting again (quota)

	// topics caches G2 discovery's listings (topics.go).
	topics *topics
}

type cachedCount struct {
	n  int
	at time.Time
}

// createOffers stores offers of owner under the quota (perOwner: the per-peer limit applies
// too) and counts them into the cached total.
func (s *Service) createOffers(ctx context.Context, gen int, owner string, offers []newOffer, perOwner bool, now int64) error {
	if err := s.db.createOffers(ctx, gen, owner, offers, s.quota(ctx, gen, perOwner), now); err != nil {
		return err
	}
	s.liveMu.Lock()
	if c, ok := s.live[gen]; ok {
		c.n += len(offers)
		s.live[gen] = c
	}
	s.liveMu.Unlock()
	return nil
}

// quota is the limits a publish of gen checks, with a recent count of live offers: counted at
// most once a second, plus what this node stored since (offers that expired or were deleted
// meanwhile still count, so the cap errs on the safe side; other nodes' offers of that second
// do not).
func (s *Service) quota(ctx context.Context, gen int, perOwner bool) quota {
	q := quota{total: s.cfg.MaxTotalOffers, live: -1}
	if perOwner {
		q.perOwner = s.cfg.MaxOffersPerPeer
	}
	if q.total <= 0 {
		return q
	}
	now := s.now()
	s.liveMu.Lock()
	c, ok := s.live[gen]
	s.liveMu.Unlock()
	// One publisher counts again once the count is a second old; the others take the count
	// they find until it is done. Every publisher of that moment counting (5,000 offers each,
	// 32 at once) was the offer p99 of a busy node.
	if ok && (now.Sub(c.at) < time.Second || !s.liveCounting.CompareAndSwap(false, true)) {
		q.live = c.n
		return q
	}
	if ok {
		defer s.liveCounting.Store(false)
	}
	// Counted outside the lock: publishers of other generations, and those that find the
	// count fresh, do not wait for it (two counting a generation's first count both count;
	// harmless).
	n, err := s.db.countOffers(ctx, filter{Gen: gen, Now: now.UnixMilli()}, false)
	if err != nil {
		return q // counted in the transaction instead
	}
	s.liveMu.Lock()
	if s.live == nil {
		s.live = map[int]cachedCount{}
	}
	s.live[gen] = cachedCount{n: n, at: now}
	s.liveMu.Unlock()
	q.live = n
	return q
}

type cachedIV struct {
	iv string
	at time.Time
}

// ivTTL bounds how stale a cached credential IV may be.
const ivTTL = 5 * time.Second

// peerIV returns the IV of the credential last issued for peer ("" when none is on record),
// from the cache when it is fresh.
func (s *Service) peerIV(ctx context.Context, peer string) (string, error) {
	if c, ok := s.ivs.Get(peer); ok && time.Since(c.at) < ivTTL {
		return c.iv, nil
	}
	iv, err := s.db.peerIV(ctx, peer)
	if err != nil {
		return "", err
	}
	s.ivs.Add(peer, cachedIV{iv, time.Now()})
	return iv, nil
}

// New builds the signaling service of d's configuration.
func New(d module.Deps) (*Service, error) {
	cfg := d.Config
	writes := new(atomic.Uint64)
	s := &Service{
		cfg: *Settings(cfg), db: db{DB: d.Store, writes: writes}, hub: d.Hub, log: d.Log.With("app", "signal"), version: d.Version, now: time.Now,
		push: pushOptionsFor(cfg.Namespaces), bodyMax: cfg.Limits.MaxBodyBytes,
	}
	if d.Store.Dialect == store.SQLite {
		// One node writes a SQLite store: its own drops keep the heads current (heads.go).
		s.db.heads = newHeadCache()
	}
	s.topics = newTopics(time.Duration(s.cfg.DiscoveryCacheTTL)*time.Millisecond, writes)
	if s.cfg.RequestsPerIP > 0 {
		s.rpcLimit = httpx.NewIPLimiter(float64(s.cfg.RequestsPerIP), max(s.cfg.RequestsPerIP, s.cfg.RequestsBurst))
	}
	var err error
	if s.ivs, err = lru.New[string, cachedIV](100_000); err != nil {
		return nil, err
	}
	d.Views.Register(Name, view{s})
	return s, nil
}

// Mounts are the enabled generations, each at its prefix.
func (s *Service) Mounts() []server.Mount {
	var out []server.Mount
	for _, m := range []struct {
		app server.App
		cfg config.App
	}{{s.G2(), s.cfg.App}, {s.G1(), s.cfg.V1}, {s.G4(), s.cfg.V4}} {
		if m.cfg.Enabled {
			out = append(out, server.Mount{App: m.app, Prefix: m.cfg.Prefix})
		}
	}
	return out
}

// Start migrates the signaling tables and loads (or makes) the keys.
func (s *Service) Start(ctx context.Context) error {
	if err := s.db.Migrate(ctx, "signal", migrations); err != nil {
		return err
	}
	if err := s.db.Prepare(ctx, hotWrites...); err != nil {
		return err
	}
	random := func() []byte {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return b
	}
	var err error
	if s.cfg.AuthSecret != "" {
		s.credKey, err = hex.DecodeString(s.cfg.AuthSecret)
	} else {
		s.credKey, err = s.db.key(ctx, "g2_auth_secret", random)
	}
	if err != nil {
		return fmt.Errorf("signal: credential key: %w", err)
	}
	if s.pushKey, err = s.db.key(ctx, "push_channels", random); err != nil {
		return fmt.Errorf("signal: push key: %w", err)
	}
	return nil
}

// Namespaces are the native namespaces signaling needs: its push channels' (added to the
// node's configuration when missing), whenever a generation is enabled.
func Namespaces(cfg config.Config) []config.Namespace {
	if s := Settings(cfg); s != nil && s.Active() {
		return []config.Namespace{PushNamespaceConfig}
	}
	return nil
}

// nowMS is the current time in Unix milliseconds, rondevu's unit everywhere.
func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

// Run sweeps expired offers, candidates and nonces every cleanup interval until ctx ends
// (rondevu's CLEANUP_INTERVAL). Queries never show expired rows, so this only frees space.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(time.Duration(s.cfg.CleanupInterval) * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sweep(ctx)
		}
	}
}

func (s *Service) sweep(ctx context.Context) {
	offers, nonces, err := s.db.cleanup(ctx, s.nowMS())
	if err != nil {
		s.log.Warn("cleanup", "err", err)
		return
	}
	if offers > 0 || nonces > 0 {
		s.log.Info("cleanup", "offers", offers, "nonces", nonces)
	}
}

// capTTL applies rondevu's TTL rule: a missing or zero ttl takes the default, then the
// result is raised to the minimum and capped at the maximum.
func (s *Service) capTTL(ttl int64) int64 {
	if ttl == 0 {
		ttl = s.cfg.OfferDefaultTTL
	}
	return min(max(ttl, s.cfg.OfferMinTTL), s.cfg.OfferMaxTTL)
}

func (s *Service) health(w http.ResponseWriter, _ *http.Request) {
	httpx.JSON(w, http.StatusOK, struct {
		Status    string `json:"status"`
		Timestamp int64  `json:"timestamp"`
		Version   string `json:"version"`
	}{"ok", s.nowMS(), s.version})
}

// internal answers a store failure without detail and logs it.
func (s *Service) internal(w http.ResponseWriter, r *http.Request, err error) {
	httpx.Internal(w, r, s.log, err, "Internal server error") // rondevu's wording
}
