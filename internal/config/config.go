// Package config holds Switchboard's one Config struct. Values come, in order of increasing
// precedence, from the defaults below, an optional JSON file, SWITCHBOARD_* environment
// variables and command-line flags.
package config

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes as a Go duration string ("30s").
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON accepts a duration string ("1m30s") or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration: want a string like \"30s\" or seconds, got %s", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Namespace sets the rules for every channel whose name starts with "<Name>:". The namespace
// with the empty name applies to channels without a colon.
type Namespace struct {
	Name string `json:"name"`
	// Subscribe says who may subscribe: "all" (anonymous clients too), "users" (clients with a
	// valid token) or "token" (only channels listed in the token's "channels" claim).
	Subscribe string `json:"subscribe"`
	// Publish says which clients may publish: "none" (server API only), "subscribers", "users"
	// or "all".
	Publish string `json:"publish"`
	// Presence keeps the member list of the channel; JoinLeave pushes join and leave events.
	Presence  bool `json:"presence"`
	JoinLeave bool `json:"join_leave"`
	// HistorySize and HistoryTTL bound the stream kept for history and recovery. Zero size
	// keeps no history (offsets still advance, so clients can tell that they missed something).
	HistorySize int      `json:"history_size"`
	HistoryTTL  Duration `json:"history_ttl"`
}

// App is the mount of one compatibility surface.
type App struct {
	Enabled bool   `json:"enabled"`
	Prefix  string `json:"prefix"`
}

// Config is everything Switchboard can be told.
type Config struct {
	Addr     string `json:"addr"`
	DataDir  string `json:"data"`
	Store    string `json:"store"`  // "" = SQLite in DataDir, or a postgres:// URL
	Broker   string `json:"broker"` // "memory" (or "" ) for one node
	LogLevel string `json:"log_level"`
	LogJSON  bool   `json:"log_json"`

	ShutdownTimeout Duration `json:"shutdown_timeout"`
	// DrainDelay: on SIGTERM the node keeps serving this long with /readyz at 503, so a load
	// balancer takes it out of rotation before it stops accepting. SIGINT (Ctrl-C) and a
	// second signal skip it.
	DrainDelay Duration `json:"drain_delay"`
	// Pprof serves /debug/pprof/ (Go profiles). Off by default: profiles cost CPU and should
	// not be open to the internet.
	Pprof bool `json:"pprof"`

	// APIKey protects the HTTP server API (/v1/api/...). Empty disables that API.
	APIKey string `json:"api_key"`
	// TokenHMACSecret verifies HS256 connection tokens. Empty means tokens are refused.
	TokenHMACSecret string `json:"token_hmac_secret"`
	AllowAnonymous  bool   `json:"allow_anonymous"`
	// CORSOrigins lists origins allowed by CORS and WebSocket origin checks; "*" allows all.
	CORSOrigins []string `json:"cors_origins"`
	// TrustedProxies lists the addresses (IPs or CIDRs) of load balancers in front of the
	// node. From them, the client address is read from X-Forwarded-For; from anyone else the
	// header is ignored, since a client could forge it.
	TrustedProxies []string `json:"trusted_proxies"`

	Limits     Limits      `json:"limits" env:""`
	Namespaces []Namespace `json:"namespaces"`
	Apps       Apps        `json:"apps" env:""`
}

// Apps lists the mounts of every surface.
type Apps struct {
	Native  App     `json:"native"`
	Signal  Signal  `json:"signal"`
	Chat    Chat    `json:"chat"`
	Counter Counter `json:"counter"`
	Streams Streams `json:"streams"`
}

// Streams configures the api.twizzle.net-compatible broadcast streams: a sender streams moves
// over a WebSocket to many viewers; users sign in with an OAuth2 provider (WCA by default).
type Streams struct {
	App
	// ClientURL is the web app the login callback redirects to with ?claimToken=.
	ClientURL string        `json:"client_url"`
	Provider  OAuthProvider `json:"provider" env:""`
	// RequireState refuses a login callback without a state, so every sign-in must start at
	// /v0/auth/wca/start (closes login CSRF). Off by default: the original web app sends users
	// to the provider itself, without a state. A callback with a state is always checked.
	RequireState      bool     `json:"require_state"`
	AnonymousStreams  bool     `json:"anonymous_streams"` // POST /v0/streams without a token (nobody can send)
	StreamTimeout     Duration `json:"stream_timeout"`    // a stream without a sender for this long ends
	ClaimTTL          Duration `json:"claim_ttl"`
	TokenTTL          Duration `json:"token_ttl"`
	MaxStreamsPerUser int      `json:"max_streams_per_user"`
	MaxFrameBytes     int64    `json:"max_frame_bytes"`
	SenderRate        float64  `json:"sender_rate"` // messages per second per sender socket (burst 2×)
}

// OAuthProvider is a generic OAuth2 authorization-code provider. Preset "wca" fills in the
// World Cube Association's endpoints and profile fields; ClientID and a secret are always
// the operator's.
type OAuthProvider struct {
	Preset           string `json:"preset"`
	AuthorizeURL     string `json:"authorize_url"`
	TokenURL         string `json:"token_url"`
	UserInfoURL      string `json:"userinfo_url"`
	ClientID         string `json:"client_id"`
	ClientSecret     string `json:"client_secret"`      // prefer the environment or a file
	ClientSecretFile string `json:"client_secret_file"` // read at startup
	RedirectURI      string `json:"redirect_uri"`       // this server's /v0/auth/wca/oauth_callback
	Scope            string `json:"scope"`
	// Where the profile is in the user-info answer: an object under UserKey ("" = the top
	// level), with the account id, display name and public handle (WCA ID) fields.
	UserKey     string `json:"user_key"`
	IDField     string `json:"id_field"`
	NameField   string `json:"name_field"`
	HandleField string `json:"handle_field"`
}

// WCA is the World Cube Association preset.
var WCA = OAuthProvider{
	Preset:       "wca",
	AuthorizeURL: "https://www.worldcubeassociation.org/oauth/authorize",
	TokenURL:     "https://www.worldcubeassociation.org/oauth/token",
	UserInfoURL:  "https://www.worldcubeassociation.org/api/v0/me",
	Scope:        "public", UserKey: "me", IDField: "id", NameField: "name", HandleField: "wca_id",
}

// Resolved returns p with its preset's values under the ones set, and the secret read from
// ClientSecretFile when given.
func (p OAuthProvider) Resolved() (OAuthProvider, error) {
	out := p
	if p.Preset == "wca" {
		fill := func(dst *string, v string) {
			if *dst == "" {
				*dst = v
			}
		}
		fill(&out.AuthorizeURL, WCA.AuthorizeURL)
		fill(&out.TokenURL, WCA.TokenURL)
		fill(&out.UserInfoURL, WCA.UserInfoURL)
		fill(&out.Scope, WCA.Scope)
		fill(&out.UserKey, WCA.UserKey)
		fill(&out.IDField, WCA.IDField)
		fill(&out.NameField, WCA.NameField)
		fill(&out.HandleField, WCA.HandleField)
	}
	if p.ClientSecretFile != "" {
		b, err := os.ReadFile(p.ClientSecretFile)
		if err != nil {
			return out, fmt.Errorf("apps.streams.provider.client_secret_file: %w", err)
		}
		out.ClientSecret = strings.TrimSpace(string(b))
	}
	return out, nil
}

// Counter configures the frust-compatible live counter: HTTP under Prefix+"/api", socket.io at
// Prefix+"/api/socket.io/". Frontend, when set, is a folder served at Prefix+"/" (frust's --dev
// mode), so a frust-web checkout runs against the node unchanged.
type Counter struct {
	App
	SocketIO      SocketIO `json:"socketio"`
	Frontend      string   `json:"frontend"`
	Events        []string `json:"events"`          // event names accepted
	Styles        []string `json:"styles"`          // style classes accepted in a click
	MaxName       int      `json:"max_name"`        // characters (frust-web's input allows 15)
	MaxComment    int      `json:"max_comment"`     // characters (75)
	ClickRate     float64  `json:"click_rate"`      // clicks and events per second per connection (burst 2×); 0 = off
	HistoryDays   int      `json:"history_days"`    // days before today that latest_hours covers
	MaxLatestRows int      `json:"max_latest_rows"` // latest_clicks and latest_events
}

// SocketIO tunes one app's socket.io endpoint: what its clients and the proxies in front of
// them depend on. The defaults are socket.io 4's own, except max_payload, which each app sizes
// to its events.
type SocketIO struct {
	// PingInterval: how often the server pings (Engine.IO 4), or the client must (Engine.IO
	// 3: the handshake tells it).
	PingInterval Duration `json:"ping_interval"`
	// PingTimeout: how long a missing pong (or ping) is tolerated after that.
	PingTimeout Duration `json:"ping_timeout"`
	// ConnectTimeout: a client that has not joined a namespace by then is closed.
	ConnectTimeout Duration `json:"connect_timeout"`
	// MaxPayload bounds one long-polling body or WebSocket message, in bytes.
	MaxPayload int64 `json:"max_payload"`
}

// defaultSocketIO is socket.io 4's pingInterval, pingTimeout and connectTimeout with the given
// payload bound.
func defaultSocketIO(maxPayload int64) SocketIO {
	return SocketIO{Duration(25 * time.Second), Duration(20 * time.Second), Duration(45 * time.Second), maxPayload}
}

func (s SocketIO) valid() bool {
	return s.PingInterval > 0 && s.PingTimeout > 0 && s.ConnectTimeout > 0 && s.MaxPayload > 0
}

// Chat configures the keenchat-compatible surface: REST below Prefix, socket.io at
// Prefix+"/socket.io/" and, when SocketIOAddr is set, also at /socket.io/ on a listener of its
// own (keenchat's WEBSOCKETS_PORT, 5001).
type Chat struct {
	App
	SocketIO         SocketIO `json:"socketio"`
	SocketIOAddr     string   `json:"socketio_addr"`
	TokenTTL         Duration `json:"token_ttl"`          // login tokens expire after this
	MaxMessageLength int      `json:"max_message_length"` // characters of one message
	MaxPageSize      int      `json:"max_page_size"`      // messages one GET /message?limit= returns at most
	// UnpagedMessages caps a GET /message without limit to the newest this many; 0 sends
	// every match, as keenchat did (its Android client loads the whole list).
	UnpagedMessages   int      `json:"unpaged_messages"`
	PasswordMinLength int      `json:"password_min_length"` // characters
	PostRate          float64  `json:"post_rate"`           // messages per second per user (burst 10); 0 = off
	LoginRate         float64  `json:"login_rate"`          // logins and sign-ups per second per IP (burst 10); 0 = off
	TypingInterval    Duration `json:"typing_interval"`     // a socket's typing events closer than this are dropped
}

// Signal configures the rondevu-compatible signaling surface. The embedded App mounts the G2
// API (the register/peerId+secret generation); V1 and V4 mount the legacy topic/session API
// and the newest signed-RPC API. Times are milliseconds, as in rondevu's own configuration.
type Signal struct {
	App
	V1 App `json:"v1"`
	V4 App `json:"v4"`
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
}

// Limits bounds what one client can make the server do.
type Limits struct {
	MaxMessageBytes      int64    `json:"max_message_bytes"`       // one WS frame / HTTP publish body
	MaxBodyBytes         int64    `json:"max_body_bytes"`          // any other HTTP body
	MaxChannelsPerConn   int      `json:"max_channels_per_conn"`   // subscriptions per connection
	MaxConnsPerIP        int      `json:"max_conns_per_ip"`        // WS + SSE connections per client IP
	MaxConns             int      `json:"max_conns"`               // per node; 0 = unlimited
	PublishRate          float64  `json:"publish_rate"`            // client publishes per second per connection
	PublishBurst         int      `json:"publish_burst"`           // token-bucket burst for the above
	HTTPRate             float64  `json:"http_rate"`               // HTTP requests (and WS/SSE connects) per second per IP, except with the API key; 0 = off
	HTTPBurst            int      `json:"http_burst"`              // burst for the above
	QueueBytes           int      `json:"queue_bytes"`             // outbound bytes queued per connection before it is cut off as slow
	MaxPresence          int      `json:"max_presence"`            // members listed per channel
	RecoveryMax          int      `json:"recovery_max"`            // publications one recovery may return
	HistoryMetaTTL       Duration `json:"history_meta_ttl"`        // how long an idle stream keeps its offset and epoch
	PingInterval         Duration `json:"ping_interval"`           // server ping period
	PongTimeout          Duration `json:"pong_timeout"`            // how long after a ping a client may stay silent
	ConnectTimeout       Duration `json:"connect_timeout"`         // time to send the connect command
	WriteTimeout         Duration `json:"write_timeout"`           // one socket write
	WriteDelay           Duration `json:"write_delay"`             // coalesce outbound messages this long (0 = write at once)
	SSEMaxLifetime       Duration `json:"sse_max_lifetime"`        // an SSE stream ends after this, so load rebalances; 0 = never
	MaxCommandErrors     int      `json:"max_command_errors"`      // bad commands tolerated before disconnect
	MaxChannelNameLength int      `json:"max_channel_name_length"` // bytes
}

// Default returns the configuration that `go run ./cmd/switchboard` uses.
func Default() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		DataDir:         "data",
		Broker:          "memory",
		LogLevel:        "info",
		ShutdownTimeout: Duration(10 * time.Second),
		// HAProxy's default health check (every 2 s, down after 3 failures) sees a 503
		// within 6 s; Kubernetes' readiness probe every 10 s is better served by a preStop
		// sleep (deploy/).
		DrainDelay:     Duration(5 * time.Second),
		AllowAnonymous: true,
		CORSOrigins:    []string{"*"},
		Limits: Limits{
			MaxMessageBytes:      64 << 10,
			MaxBodyBytes:         1 << 20,
			MaxChannelsPerConn:   128,
			MaxConnsPerIP:        1000,
			PublishRate:          50,
			PublishBurst:         100,
			HTTPRate:             100,
			HTTPBurst:            200,
			QueueBytes:           1 << 20,
			MaxPresence:          1000,
			RecoveryMax:          300,
			HistoryMetaTTL:       Duration(24 * time.Hour),
			PingInterval:         Duration(25 * time.Second),
			PongTimeout:          Duration(10 * time.Second),
			ConnectTimeout:       Duration(10 * time.Second),
			WriteTimeout:         Duration(10 * time.Second),
			SSEMaxLifetime:       Duration(time.Hour),
			MaxCommandErrors:     10,
			MaxChannelNameLength: 255,
		},
		Namespaces: []Namespace{{
			Name: "", Subscribe: "all", Publish: "subscribers",
			Presence: true, JoinLeave: true,
			HistorySize: 100, HistoryTTL: Duration(5 * time.Minute),
		}},
		Apps: Apps{
			Native: App{Enabled: true, Prefix: ""},
			Signal: Signal{
				App: App{Enabled: true, Prefix: "/rondevu"},
				V1:  App{Enabled: true, Prefix: "/rondevu/v1"},
				V4:  App{Enabled: true, Prefix: "/rondevu/v4"},
				// rondevu's defaults (spec A1.8, A2.5, A3); the README's are wrong.
				OfferDefaultTTL: 60000, OfferMinTTL: 60000, OfferMaxTTL: 86400000,
				AnsweredOfferTTL: 30000, SessionTTL: 300000, PeerTTL: 86400000, CleanupInterval: 60000,
				MaxOffersPerReq: 100, MaxTopicsPerOffer: 50, MaxSDPSize: 65536,
				MaxCandidateSize: 4096, MaxCandidateDepth: 10, MaxCandidatesReq: 100, MaxCandidatesOff: 50,
				MaxOffersPerPeer: 1000, MaxTotalOffers: 100000, MaxBatchSize: 100, MaxTotalOps: 1000,
				TimestampMaxAge: 60000, TimestampMaxAhead: 60000, RequestsPerIP: 50, RequestsBurst: 200,
			},
			Chat: Chat{
				App: App{Enabled: true, Prefix: "/chat"}, SocketIO: defaultSocketIO(100 << 10), TokenTTL: Duration(30 * 24 * time.Hour),
				MaxMessageLength: 4000, MaxPageSize: 1000, PasswordMinLength: 6, PostRate: 5, LoginRate: 1,
				TypingInterval: Duration(300 * time.Millisecond),
			},
			Counter: Counter{
				App: App{Enabled: true, Prefix: ""}, SocketIO: defaultSocketIO(16 << 10),
				// The event names frust-web sends, and its click colours and lines (plus the
				// style of the server's own messages).
				Events: []string{"fuck", "belasto", "einstein", "satan", "666", "fu", "exmatrikulieren", "pride", "fireworks", "rickroll", "sas", "lemma 6.7"},
				Styles: []string{"green", "purple", "blue", "yellow", "black", "white", "small", "big", "dotted", "dashed",
					"fire", "fancy", "medium", "highlight"},
				// frust-web sends a click per key repeat: a held Enter is 20–35 clicks/s, and
				// a human at full speed must never lose one. 50/s (burst 100) covers the
				// fastest key repeat; a script gets no further.
				MaxName: 15, MaxComment: 75, ClickRate: 50, HistoryDays: 6, MaxLatestRows: 10000,
			},
			Streams: Streams{
				App: App{Enabled: true, Prefix: ""}, ClientURL: "http://localhost:1234/",
				Provider:      OAuthProvider{Preset: "wca"},
				StreamTimeout: Duration(10 * time.Minute), ClaimTTL: Duration(10 * time.Minute),
				TokenTTL: Duration(90 * 24 * time.Hour), MaxStreamsPerUser: 10, MaxFrameBytes: 16 << 10, SenderRate: 60,
			},
		},
	}
}

// EnvPrefix starts the name of every environment variable Switchboard reads.
const EnvPrefix = "SWITCHBOARD_"

// Load builds the configuration from the defaults, then the file named by -config (or
// SWITCHBOARD_CONFIG), then the environment, then the flags in args. It returns whether
// -version was asked for.
func Load(args []string, getenv func(string) string) (Config, bool, error) {
	cfg := Default()
	fs := flag.NewFlagSet("switchboard", flag.ContinueOnError)
	configFile := fs.String("config", getenv(EnvPrefix+"CONFIG"), "JSON config file")
	version := fs.Bool("version", false, "print the version and exit")
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:8080)")
	data := fs.String("data", "", "data directory; the SQLite file lives inside (default ./data)")
	store := fs.String("store", "", "store: empty for SQLite in -data, or postgres://…")
	brk := fs.String("broker", "", "broker: memory")
	logLevel := fs.String("log-level", "", "debug, info, warn or error")
	apiKey := fs.String("api-key", "", "key for the HTTP server API (prefer SWITCHBOARD_API_KEY)")
	frontend := fs.String("frontend", "", "serve this folder at / for the live counter (frust's --dev mode)")
	if err := fs.Parse(args); err != nil {
		return cfg, false, err
	}
	if *configFile != "" {
		b, err := os.ReadFile(*configFile)
		if err != nil {
			return cfg, false, fmt.Errorf("read config: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		// encoding/json decodes a list into the existing elements without zeroing them, so a
		// namespace from the file would inherit the default namespace's settings. A list in
		// the file replaces the default list whole.
		defNS, defOrigins := cfg.Namespaces, cfg.CORSOrigins
		cfg.Namespaces, cfg.CORSOrigins = nil, nil
		if err := dec.Decode(&cfg); err != nil {
			return cfg, false, fmt.Errorf("parse config %s: %w", *configFile, err)
		}
		if cfg.Namespaces == nil {
			cfg.Namespaces = defNS
		}
		if cfg.CORSOrigins == nil {
			cfg.CORSOrigins = defOrigins
		}
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return cfg, false, err
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Addr, *addr)
	set(&cfg.DataDir, *data)
	set(&cfg.Store, *store)
	set(&cfg.Broker, *brk)
	set(&cfg.LogLevel, *logLevel)
	set(&cfg.APIKey, *apiKey)
	set(&cfg.Apps.Counter.Frontend, *frontend)
	return cfg, *version, cfg.Validate()
}

// ParsePrefixes reads IPs and CIDRs ("10.0.0.0/8", "127.0.0.1") as prefixes.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP nor a CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

var namespaceName = regexp.MustCompile(`^[A-Za-z0-9_.\-]*$`)

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr is empty"))
	}
	if c.ShutdownTimeout <= 0 || c.DrainDelay < 0 {
		errs = append(errs, errors.New("shutdown_timeout must be positive and drain_delay not negative"))
	}
	switch c.Broker {
	case "", "memory":
	default:
		errs = append(errs, fmt.Errorf("broker %q: only \"memory\" is built in", c.Broker))
	}
	l := c.Limits
	if l.MaxMessageBytes <= 0 || l.MaxBodyBytes <= 0 || l.QueueBytes <= 0 {
		errs = append(errs, errors.New("limits: message, body and queue sizes must be positive"))
	}
	if l.QueueBytes < int(l.MaxMessageBytes) {
		errs = append(errs, errors.New("limits: queue_bytes must hold at least one max_message_bytes message"))
	}
	if l.MaxChannelsPerConn <= 0 || l.RecoveryMax <= 0 || l.MaxChannelNameLength <= 0 {
		errs = append(errs, errors.New("limits: channel, recovery and name limits must be positive"))
	}
	if l.PingInterval.D() <= 0 || l.PongTimeout.D() <= 0 || l.ConnectTimeout.D() <= 0 || l.WriteTimeout.D() <= 0 {
		errs = append(errs, errors.New("limits: ping, pong, connect and write timeouts must be positive"))
	}
	if l.WriteDelay < 0 || l.WriteDelay.D() > time.Second {
		errs = append(errs, errors.New("limits: write_delay must be 0 to 1s"))
	}
	if l.PublishRate < 0 || l.HTTPRate < 0 {
		errs = append(errs, errors.New("limits: rates cannot be negative"))
	}
	if _, err := ParsePrefixes(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("trusted_proxies: %w", err))
	}
	seen := map[string]bool{}
	for _, ns := range c.Namespaces {
		if !namespaceName.MatchString(ns.Name) {
			errs = append(errs, fmt.Errorf("namespace %q: name may hold letters, digits, _ . - only", ns.Name))
		}
		if seen[ns.Name] {
			errs = append(errs, fmt.Errorf("namespace %q is defined twice", ns.Name))
		}
		seen[ns.Name] = true
		switch ns.Subscribe {
		case "all", "users", "token":
		default:
			errs = append(errs, fmt.Errorf("namespace %q: subscribe must be all, users or token", ns.Name))
		}
		switch ns.Publish {
		case "none", "subscribers", "users", "all":
		default:
			errs = append(errs, fmt.Errorf("namespace %q: publish must be none, subscribers, users or all", ns.Name))
		}
		if ns.HistorySize < 0 || ns.HistoryTTL < 0 {
			errs = append(errs, fmt.Errorf("namespace %q: history size and ttl cannot be negative", ns.Name))
		}
		if ns.HistorySize > 0 && ns.HistoryTTL <= 0 {
			errs = append(errs, fmt.Errorf("namespace %q: history_size needs a history_ttl", ns.Name))
		}
	}
	for name, p := range map[string]string{
		"apps.native.prefix": c.Apps.Native.Prefix, "apps.signal.prefix": c.Apps.Signal.Prefix,
		"apps.signal.v1.prefix": c.Apps.Signal.V1.Prefix, "apps.signal.v4.prefix": c.Apps.Signal.V4.Prefix,
		"apps.chat.prefix": c.Apps.Chat.Prefix, "apps.counter.prefix": c.Apps.Counter.Prefix,
		"apps.streams.prefix": c.Apps.Streams.Prefix,
	} {
		if p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/")) {
			errs = append(errs, fmt.Errorf("%s %q: must start with / and not end with /", name, p))
		}
	}
	errs = append(errs, c.Apps.Signal.validate()...)
	if ch := c.Apps.Chat; ch.TokenTTL <= 0 || ch.MaxMessageLength <= 0 || ch.MaxPageSize <= 0 || ch.UnpagedMessages < 0 || ch.PasswordMinLength < 1 || ch.PostRate < 0 || ch.LoginRate < 0 || ch.TypingInterval < 0 {
		errs = append(errs, errors.New("apps.chat: token_ttl, max_message_length, max_page_size and password_min_length must be positive, unpaged_messages, rates and typing_interval not negative"))
	}
	if st := c.Apps.Streams; st.StreamTimeout <= 0 || st.ClaimTTL <= 0 || st.TokenTTL <= 0 || st.MaxStreamsPerUser < 1 || st.MaxFrameBytes < 256 || st.SenderRate < 0 {
		errs = append(errs, errors.New("apps.streams: timeouts and TTLs must be positive, max_streams_per_user at least 1, max_frame_bytes at least 256, sender_rate not negative"))
	}
	if p := c.Apps.Streams.Provider; p.Preset != "" && p.Preset != "wca" {
		errs = append(errs, fmt.Errorf("apps.streams.provider.preset %q: only \"wca\" is built in", p.Preset))
	}
	for name, sio := range map[string]SocketIO{"chat": c.Apps.Chat.SocketIO, "counter": c.Apps.Counter.SocketIO} {
		if !sio.valid() {
			errs = append(errs, fmt.Errorf("apps.%s.socketio: ping_interval, ping_timeout, connect_timeout and max_payload must be positive", name))
		}
	}
	if co := c.Apps.Counter; co.MaxName < 1 || co.MaxComment < 1 || co.ClickRate < 0 || co.HistoryDays < 0 || co.MaxLatestRows < 1 {
		errs = append(errs, errors.New("apps.counter: max_name, max_comment and max_latest_rows must be positive, click_rate and history_days not negative"))
	}
	return errors.Join(errs...)
}

// validate applies rondevu's own lower bounds (spec A1.8), where a smaller value aborts startup.
func (s *Signal) validate() []error {
	var errs []error
	if s.AuthSecret != "" {
		if b, err := hex.DecodeString(s.AuthSecret); err != nil || len(b) != 32 {
			errs = append(errs, errors.New("apps.signal.auth_secret must be 64 hex characters (32 bytes)"))
		}
	}
	for name, v := range map[string]int64{
		"offer_default_ttl": s.OfferDefaultTTL, "offer_min_ttl": s.OfferMinTTL, "offer_max_ttl": s.OfferMaxTTL,
		"answered_offer_ttl": s.AnsweredOfferTTL, "session_ttl": s.SessionTTL, "peer_ttl": s.PeerTTL, "cleanup_interval": s.CleanupInterval,
		"timestamp_max_age": s.TimestampMaxAge, "timestamp_max_future": s.TimestampMaxAhead,
	} {
		if v < 1000 {
			errs = append(errs, fmt.Errorf("apps.signal.%s must be at least 1000 (ms)", name))
		}
	}
	if s.OfferMinTTL > s.OfferMaxTTL {
		errs = append(errs, errors.New("apps.signal.offer_min_ttl is above offer_max_ttl"))
	}
	for name, v := range map[string]int{
		"max_offers_per_request": s.MaxOffersPerReq, "max_topics_per_offer": s.MaxTopicsPerOffer,
		"max_candidate_depth": s.MaxCandidateDepth, "max_candidates_per_request": s.MaxCandidatesReq,
		"max_ice_candidates_per_offer": s.MaxCandidatesOff, "max_offers_per_user": s.MaxOffersPerPeer,
		"max_total_offers": s.MaxTotalOffers, "max_batch_size": s.MaxBatchSize, "max_total_operations": s.MaxTotalOps,
	} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("apps.signal.%s must be at least 1", name))
		}
	}
	if s.MaxSDPSize < 1024 || s.MaxCandidateSize < 256 {
		errs = append(errs, errors.New("apps.signal: max_sdp_size must be at least 1024 and max_candidate_size at least 256"))
	}
	if s.RequestsPerIP < 0 {
		errs = append(errs, errors.New("apps.signal.requests_per_ip_per_second cannot be negative"))
	}
	if s.RequestsBurst < 0 {
		errs = append(errs, errors.New("apps.signal.requests_burst cannot be negative"))
	}
	return errs
}
