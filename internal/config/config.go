// Package config holds Switchboard's configuration: the core settings (addresses, store and
// broker, limits, namespaces, keys) and, under Apps, one section per app, each of the app's
// own type. Values come, in order of increasing precedence, from the defaults (the core's
// below, each app's from its package, gathered by the node's module list), an optional JSON
// file, SWITCHBOARD_* environment variables (env.go) and command-line flags.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
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

// App is the mount of one surface, embedded in the app's section.
type App struct {
	Enabled bool   `json:"enabled"`
	Prefix  string `json:"prefix"`
}

// Active reports whether the app is on.
func (a App) Active() bool { return a.Enabled }

// MountPrefix is where the app is mounted, and whether it is on (the console's demos find the
// apps' paths by it).
func (a App) MountPrefix() (string, bool) { return a.Prefix, a.Enabled }

// ValidatePrefix says what is wrong with the prefix, if anything.
func (a App) ValidatePrefix() error {
	if a.Prefix != "" && (!strings.HasPrefix(a.Prefix, "/") || strings.HasSuffix(a.Prefix, "/")) {
		return fmt.Errorf("prefix %q: must start with / and not end with /", a.Prefix)
	}
	return nil
}

// Section is one app's settings, a pointer to the app's own Config type: the node's module
// list puts each app's defaults in Config.Apps under its name, the file's "apps" object and
// the environment fill them in, and Validate checks them.
type Section interface {
	// Active reports whether the app is on.
	Active() bool
	Validate() error
}

// Apps holds every app's section by name.
type Apps map[string]Section

// Get returns the section of app name as its own type; nil when there is none of that type.
func Get[T any](c Config, name string) *T {
	v, _ := any(c.Apps[name]).(*T)
	return v
}

func (a Apps) names() []string {
	names := make([]string, 0, len(a))
	for n := range a {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// UnmarshalJSON fills in the sections present from the file's "apps" object; an app that
// has no section is an error, as an unknown field is.
func (a Apps) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for name, r := range raw {
		sec, ok := a[name]
		if !ok {
			return fmt.Errorf("apps: no app %q", name)
		}
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(sec); err != nil {
			return fmt.Errorf("apps.%s: %w", name, err)
		}
	}
	return nil
}

// Config is everything Switchboard can be told.
type Config struct {
	Addr    string `json:"addr"`
	DataDir string `json:"data"`
	Store   string `json:"store"` // "" = SQLite in DataDir, or a postgres:// URL
	// Broker is "memory" (one node) or the URL of a NATS server with JetStream
	// ("nats://host:4222", several separated by commas) for a cluster.
	Broker   string `json:"broker"`
	LogLevel string `json:"log_level"`
	LogJSON  bool   `json:"log_json"`

	ShutdownTimeout Duration `json:"shutdown_timeout"`
	// DrainDelay: on SIGTERM the node keeps serving this long with /readyz at 503, so a load
	// balancer takes it out of rotation before it stops accepting. SIGINT (Ctrl-C) and a
	// second signal skip it.
	DrainDelay Duration `json:"drain_delay"`
	// StartupWait is how long a starting node keeps trying to reach PostgreSQL and NATS
	// (each started with it, or restarting) before it gives up; 0 tries once.
	StartupWait Duration `json:"startup_wait"`
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

	// NATS tunes the cluster engine (used when broker is a nats:// URL).
	NATS NATS `json:"nats"`

	Limits     Limits      `json:"limits" env:""`
	Namespaces []Namespace `json:"namespaces"`
	Apps       Apps        `json:"apps" env:""`
}

// NATS tunes the cluster engine.
type NATS struct {
	// Prefix starts every subject Switchboard uses, so several deployments can share one
	// NATS server. The history stream is named after it (<PREFIX>_HIST).
	Prefix string `json:"prefix"`
	// Replicas of the history stream: 1 on a single NATS server, 3 on a NATS cluster.
	Replicas int `json:"replicas"`
	// NewEpochOnRestart: after the NATS server restarts, each channel's next publication starts
	// a new epoch (clients re-sync instead of recovering). JetStream acknowledges writes before
	// they reach the disk, so a host crash may lose a channel's newest publications and their
	// offsets would be reused. Turn off with replicas 3 or a server on sync_interval: always.
	NewEpochOnRestart bool `json:"new_epoch_on_restart"`
	// Heartbeat: how often a node announces itself; a node silent for three is dead, and its
	// presence members vanish.
	Heartbeat Duration `json:"heartbeat"`
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

// Default returns the core settings that `go run ./cmd/switchboard` uses, with no app
// sections yet (node.DefaultConfig adds them).
func Default() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		DataDir:         "data",
		Broker:          "memory",
		NATS:            NATS{Prefix: "sb", Replicas: 1, NewEpochOnRestart: true, Heartbeat: Duration(5 * time.Second)},
		LogLevel:        "info",
		ShutdownTimeout: Duration(10 * time.Second),
		// HAProxy's default health check (every 2 s, down after 3 failures) sees a 503
		// within 6 s; Kubernetes' readiness probe every 10 s is better served by a preStop
		// sleep (deploy/).
		DrainDelay:     Duration(5 * time.Second),
		StartupWait:    Duration(60 * time.Second),
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
		Apps: Apps{},
	}
}

// EnvPrefix starts the name of every environment variable Switchboard reads.
const EnvPrefix = "SWITCHBOARD_"

// Load builds the configuration from cfg (the defaults, with every app's section), then the
// file named by -config (or SWITCHBOARD_CONFIG), then the environment, then the flags in args;
// extra, when set, adds flags of the caller's and returns what applies them. It returns
// whether -version was asked for.
func Load(cfg Config, args []string, getenv func(string) string, extra func(*flag.FlagSet) func(*Config)) (Config, bool, error) {
	fs := flag.NewFlagSet("switchboard", flag.ContinueOnError)
	configFile := fs.String("config", getenv(EnvPrefix+"CONFIG"), "JSON config file")
	version := fs.Bool("version", false, "print the version and exit")
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:8080)")
	data := fs.String("data", "", "data directory; the SQLite file lives inside (default ./data)")
	store := fs.String("store", "", "store: empty for SQLite in -data, or postgres://…")
	brk := fs.String("broker", "", "broker: memory, or nats://host:4222 for a cluster")
	logLevel := fs.String("log-level", "", "debug, info, warn or error")
	apiKey := fs.String("api-key", "", "key for the HTTP server API (prefer SWITCHBOARD_API_KEY)")
	apply := func(*Config) {}
	if extra != nil {
		apply = extra(fs)
	}
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
	apply(&cfg)
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

var natsPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

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
	if c.StartupWait < 0 {
		errs = append(errs, errors.New("startup_wait cannot be negative"))
	}
	switch {
	case c.Broker == "", c.Broker == "memory":
	case strings.HasPrefix(c.Broker, "nats://"), strings.HasPrefix(c.Broker, "tls://"):
		if !natsPrefix.MatchString(c.NATS.Prefix) || c.NATS.Replicas < 1 || c.NATS.Replicas > 5 || c.NATS.Heartbeat <= 0 {
			errs = append(errs, errors.New("nats: prefix must be letters, digits, _ or -; replicas 1 to 5; heartbeat positive"))
		}
	default:
		errs = append(errs, fmt.Errorf("broker %q: want \"memory\" or a nats:// URL", c.Broker))
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
	for _, name := range c.Apps.names() {
		if err := c.Apps[name].Validate(); err != nil {
			errs = append(errs, fmt.Errorf("apps.%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
