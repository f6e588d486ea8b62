package signal

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/config"
)

// Name is signaling's name in the configuration and the module list.
const Name = "signal"

// Config configures the rondevu-compatible signaling surface. The embedded App mounts the G2
// API (the register/peerId+secret generation); V1 and V4 mount the legacy topic/session API
// and the newest signed-RPC API. Times are milliseconds, as in rondevu's own configuration.
type Config struct {
	config.App
	V1 config.App `json:"v1"`
	V4 config.App `json:"v4"`
	// AuthSecret is G2's AES-256 credential key as 64 hex characters (rondevu's AUTH_SECRET,
	// so credentials minted by an original server stay valid). Empty: a key is generated once
	// and kept in the store, so credentials survive restarts and hold on every node.
	AuthSecret string `json:"auth_secret"`

	OfferDefaultTTL   int64 `json:"offer_default_ttl"`  // ms
	OfferMinTTL       int64 `json:"offer_min_ttl"`      // ms
	OfferMaxTTL       int64 `json:"offer_max_ttl"`      // ms
	AnsweredOfferTTL  int64 `json:"answered_offer_ttl"` // ms an answered G4 offer lives on
	SessionTTL        int64 `json:"session_ttl"`        // ms a G1 session lives
	PeerTTL           int64 `json:"peer_ttl"`           // ms a G2 registration holds its id (then: while it owns live offers)
	CleanupInterval   int64 `json:"cleanup_interval"`   // ms between sweeps of expired rows
	MaxOffersPerReq   int   `json:"max_offers_per_request"`
	MaxTopicsPerOffer int   `json:"max_topics_per_offer"` // G2
	MaxSDPSize        int   `json:"max_sdp_size"`         // bytes of one SDP (G1 offer/answer too)
	MaxCandidateSize  int   `json:"max_candidate_size"`   // bytes of one candidate's JSON
	MaxCandidateDepth int   `json:"max_candidate_depth"`
	MaxCandidatesReq  int   `json:"max_candidates_per_request"`
	MaxCandidatesOff  int   `json:"max_ice_candidates_per_offer"` // per offer and role
	MaxOffersPerPeer  int   `json:"max_offers_per_user"`
	MaxTotalOffers    int   `json:"max_total_offers"`
	MaxBatchSize      int   `json:"max_batch_size"`             // G4 calls per request
	MaxTotalOps       int   `json:"max_total_operations"`       // G4 offers + candidates per request
	TimestampMaxAge   int64 `json:"timestamp_max_age"`          // ms a G4 signature is valid
	TimestampMaxAhead int64 `json:"timestamp_max_future"`       // ms a G4 timestamp may be ahead
	RequestsPerIP     int   `json:"requests_per_ip_per_second"` // G4 /rpc, sustained; 0 = off
	// RequestsBurst is how many G4 requests one address may send at once. The header-auth
	// client (0.21) sends each call as its own request, 60 at a time in normal use; the
	// original limited nothing unless a proxy header named the client.
	RequestsBurst int `json:"requests_burst"`
	// DiscoveryCacheTTL is how long, in ms, a node may answer G2 discovery (by-topic) from
	// its cache of a topic's offers without seeing another node's writes; its own writes
	// show at once. 0 turns the cache off.
	DiscoveryCacheTTL int64 `json:"discovery_cache_ttl"`
}

// Default is signaling's configuration out of the box: rondevu's defaults (spec A1.8, A2.5,
// A3; the README's are wrong).
func Default() *Config {
	return &Config{
		App:             config.App{Enabled: true, Prefix: "/rondevu"},
		V1:              config.App{Enabled: true, Prefix: "/rondevu/v1"},
		V4:              config.App{Enabled: true, Prefix: "/rondevu/v4"},
		OfferDefaultTTL: 60000, OfferMinTTL: 60000, OfferMaxTTL: 86400000,
		AnsweredOfferTTL: 30000, SessionTTL: 300000, PeerTTL: 86400000, CleanupInterval: 60000,
		MaxOffersPerReq: 100, MaxTopicsPerOffer: 50, MaxSDPSize: 65536,
		MaxCandidateSize: 4096, MaxCandidateDepth: 10, MaxCandidatesReq: 100, MaxCandidatesOff: 50,
		MaxOffersPerPeer: 1000, MaxTotalOffers: 100000, MaxBatchSize: 100, MaxTotalOps: 1000,
		TimestampMaxAge: 60000, TimestampMaxAhead: 60000, RequestsPerIP: 50, RequestsBurst: 200,
		DiscoveryCacheTTL: 1000,
	}
}

// Active reports whether any generation is on.
func (s *Config) Active() bool { return s.Enabled || s.V1.Enabled || s.V4.Enabled }

// Validate says what cannot work.
func (s *Config) Validate() error {
	errs := s.validate()
	for _, a := range []config.App{s.App, s.V1, s.V4} {
		errs = append(errs, a.ValidatePrefix())
	}
	return errors.Join(errs...)
}

// validate applies rondevu's own lower bounds (spec A1.8), where a smaller value aborts startup.
func (s *Config) validate() []error {
	var errs []error
	if s.AuthSecret != "" {
		if b, err := hex.DecodeString(s.AuthSecret); err != nil || len(b) != 32 {
			errs = append(errs, errors.New("auth_secret must be 64 hex characters (32 bytes)"))
		}
	}
	for name, v := range map[string]int64{
		"offer_default_ttl": s.OfferDefaultTTL, "offer_min_ttl": s.OfferMinTTL, "offer_max_ttl": s.OfferMaxTTL,
		"answered_offer_ttl": s.AnsweredOfferTTL, "session_ttl": s.SessionTTL, "peer_ttl": s.PeerTTL, "cleanup_interval": s.CleanupInterval,
		"timestamp_max_age": s.TimestampMaxAge, "timestamp_max_future": s.TimestampMaxAhead,
	} {
		if v < 1000 {
			errs = append(errs, fmt.Errorf("%s must be at least 1000 (ms)", name))
		}
	}
	if s.OfferMinTTL > s.OfferMaxTTL {
		errs = append(errs, errors.New("offer_min_ttl is above offer_max_ttl"))
	}
	for name, v := range map[string]int{
		"max_offers_per_request": s.MaxOffersPerReq, "max_topics_per_offer": s.MaxTopicsPerOffer,
		"max_candidate_depth": s.MaxCandidateDepth, "max_candidates_per_request": s.MaxCandidatesReq,
		"max_ice_candidates_per_offer": s.MaxCandidatesOff, "max_offers_per_user": s.MaxOffersPerPeer,
		"max_total_offers": s.MaxTotalOffers, "max_batch_size": s.MaxBatchSize, "max_total_operations": s.MaxTotalOps,
	} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1", name))
		}
	}
	if s.MaxSDPSize < 1024 || s.MaxCandidateSize < 256 {
		errs = append(errs, errors.New("apps.signal: max_sdp_size must be at least 1024 and max_candidate_size at least 256"))
	}
	if s.RequestsPerIP < 0 {
		errs = append(errs, errors.New("requests_per_ip_per_second cannot be negative"))
	}
	if s.RequestsBurst < 0 {
		errs = append(errs, errors.New("requests_burst cannot be negative"))
	}
	if s.DiscoveryCacheTTL < 0 || s.DiscoveryCacheTTL > 60000 {
		errs = append(errs, errors.New("discovery_cache_ttl must be between 0 (off) and 60000 (ms)"))
	}
	return errs
}

// Settings is signaling's section of cfg.
func Settings(cfg config.Config) *Config { return config.Get[Config](cfg, Name) }
