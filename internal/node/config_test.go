package node_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/apps/chat"
	"github.com/switchboard/switchboard/internal/apps/counter"
	"github.com/switchboard/switchboard/internal/apps/signal"
	"github.com/switchboard/switchboard/internal/apps/streams"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(file, []byte(`{"addr":"127.0.0.1:1","data":"fromfile","limits":{"ping_interval":"7s","max_conns_per_ip":5}}`), 0o600)
	cfg, _, err := node.LoadConfig([]string{"-config", file, "-addr", "127.0.0.1:3"}, env(map[string]string{
		"SWITCHBOARD_ADDR": "127.0.0.1:2", "SWITCHBOARD_DATA": "fromenv", "SWITCHBOARD_MAX_CONNS_PER_IP": "9",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:3" {
		t.Errorf("flag must beat env and file: %s", cfg.Addr)
	}
	if cfg.DataDir != "fromenv" {
		t.Errorf("env must beat file: %s", cfg.DataDir)
	}
	if cfg.Limits.PingInterval.D() != 7*time.Second {
		t.Errorf("file must beat defaults: %v", cfg.Limits.PingInterval)
	}
	if cfg.Limits.MaxConnsPerIP != 9 {
		t.Errorf("env int: %d", cfg.Limits.MaxConnsPerIP)
	}
	if cfg.Limits.QueueBytes != node.DefaultConfig().Limits.QueueBytes {
		t.Error("unset fields keep their defaults")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown field in file", []string{"-config", write("a.json", `{"adr":"x"}`)}, nil, "unknown field"},
		{"bad duration", []string{"-config", write("b.json", `{"shutdown_timeout":"soon"}`)}, nil, "duration"},
		{"missing file", []string{"-config", filepath.Join(dir, "none.json")}, nil, "read config"},
		{"bad env bool", nil, map[string]string{"SWITCHBOARD_LOG_JSON": "maybe"}, "LOG_JSON"},
		{"unknown broker", []string{"-broker", "kafka"}, nil, "broker"},
		{"bad namespace rule", []string{"-config", write("c.json", `{"namespaces":[{"name":"x","subscribe":"everyone","publish":"none"}]}`)}, nil, "subscribe must be"},
		{"history without ttl", []string{"-config", write("d.json", `{"namespaces":[{"name":"x","subscribe":"all","publish":"none","history_size":5}]}`)}, nil, "history_ttl"},
		{"queue smaller than a message", []string{"-config", write("e.json", `{"limits":{"queue_bytes":10}}`)}, nil, "queue_bytes"},
		{"bad prefix", nil, map[string]string{"SWITCHBOARD_NATIVE_PREFIX": "api/"}, "prefix"},
		{"unknown app", []string{"-config", write("f.json", `{"apps":{"chatt":{}}}`)}, nil, `no app "chatt"`},
		{"unknown field in an app", []string{"-config", write("g.json", `{"apps":{"chat":{"post_rat":1}}}`)}, nil, "apps.chat"},
		{"bad app setting", []string{"-config", write("h.json", `{"apps":{"counter":{"max_name":0}}}`)}, nil, "apps.counter: max_name"},
		{"commit window too long", nil, map[string]string{"SWITCHBOARD_COUNTER_COMMIT_WINDOW": "2s"}, "commit_window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := node.LoadConfig(tt.args, env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	var d config.Duration
	if err := d.UnmarshalJSON([]byte(`1.5`)); err != nil || d.D() != 1500*time.Millisecond {
		t.Fatalf("seconds: %v %v", d, err)
	}
	b, _ := config.Duration(90 * time.Second).MarshalJSON()
	if string(b) != `"1m30s"` {
		t.Fatalf("marshal: %s", b)
	}
}

func TestDefaultIsValid(t *testing.T) {
	c := node.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSignalConfig(t *testing.T) {
	env := map[string]string{"SWITCHBOARD_SIGNAL_PREFIX": "/sig", "SWITCHBOARD_SIGNAL_V1_ENABLED": "false",
		"SWITCHBOARD_SIGNAL_AUTH_SECRET": strings.Repeat("ab", 32)}
	cfg, _, err := node.LoadConfig(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s := signal.Settings(cfg); s.Prefix != "/sig" || s.V1.Enabled || !s.V4.Enabled || s.AuthSecret != strings.Repeat("ab", 32) || s.OfferDefaultTTL != 60000 {
		t.Fatalf("signal config %+v", s)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*signal.Config)
		want   string
	}{
		{"short key", func(s *signal.Config) { s.AuthSecret = "abcd" }, "auth_secret must be 64 hex"},
		{"not hex", func(s *signal.Config) { s.AuthSecret = strings.Repeat("zz", 32) }, "auth_secret must be 64 hex"},
		{"tiny ttl", func(s *signal.Config) { s.OfferMinTTL = 10 }, "offer_min_ttl must be at least 1000"},
		{"min above max", func(s *signal.Config) { s.OfferMinTTL = 90000000 }, "offer_min_ttl is above offer_max_ttl"},
		{"zero batch", func(s *signal.Config) { s.MaxBatchSize = 0 }, "max_batch_size must be at least 1"},
		{"small sdp", func(s *signal.Config) { s.MaxSDPSize = 10 }, "max_sdp_size must be at least 1024"},
		{"negative rate", func(s *signal.Config) { s.RequestsPerIP = -1 }, "requests_per_ip_per_second cannot be negative"},
		{"bad prefix", func(s *signal.Config) { s.V4.Prefix = "v4/" }, `apps.signal: prefix "v4/"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := node.DefaultConfig()
			tc.mutate(signal.Settings(c))
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestEnvNames: the environment rule gives every variable that existed before it, and no two
// settings share a name.
func TestEnvNames(t *testing.T) {
	cfg := node.DefaultConfig()
	vars := config.EnvVars(&cfg)
	byName := map[string]string{}
	for _, v := range vars {
		if other, dup := byName[v.Name]; dup {
			t.Errorf("%s names both %s and %s", v.Name, other, v.Path)
		}
		byName[v.Name] = v.Path
	}
	for name, path := range map[string]string{
		"ADDR": "addr", "DATA": "data", "STORE": "store", "BROKER": "broker", "LOG_LEVEL": "log_level",
		"LOG_JSON": "log_json", "API_KEY": "api_key", "TOKEN_HMAC_SECRET": "token_hmac_secret",
		"ALLOW_ANONYMOUS": "allow_anonymous", "PPROF": "pprof", "CORS_ORIGINS": "cors_origins",
		"TRUSTED_PROXIES": "trusted_proxies", "SHUTDOWN_TIMEOUT": "shutdown_timeout", "DRAIN_DELAY": "drain_delay",
		"MAX_CONNS_PER_IP": "limits.max_conns_per_ip", "MAX_CONNS": "limits.max_conns",
		"QUEUE_BYTES": "limits.queue_bytes", "MAX_CHANNELS_PER_CONN": "limits.max_channels_per_conn",
		"PUBLISH_RATE":   "limits.publish_rate",
		"NATIVE_ENABLED": "apps.native.enabled", "NATIVE_PREFIX": "apps.native.prefix",
		"SIGNAL_ENABLED": "apps.signal.enabled", "SIGNAL_PREFIX": "apps.signal.prefix",
		"SIGNAL_V1_ENABLED": "apps.signal.v1.enabled", "SIGNAL_V1_PREFIX": "apps.signal.v1.prefix",
		"SIGNAL_V4_ENABLED": "apps.signal.v4.enabled", "SIGNAL_V4_PREFIX": "apps.signal.v4.prefix",
		"SIGNAL_AUTH_SECRET": "apps.signal.auth_secret",
		"CHAT_ENABLED":       "apps.chat.enabled", "CHAT_PREFIX": "apps.chat.prefix", "CHAT_SOCKETIO_ADDR": "apps.chat.socketio_addr",
		"COUNTER_ENABLED": "apps.counter.enabled", "COUNTER_PREFIX": "apps.counter.prefix", "COUNTER_FRONTEND": "apps.counter.frontend",
		"STREAMS_ENABLED": "apps.streams.enabled", "STREAMS_PREFIX": "apps.streams.prefix", "STREAMS_CLIENT_URL": "apps.streams.client_url",
		"STREAMS_REQUIRE_STATE": "apps.streams.require_state", "STREAMS_ANONYMOUS_STREAMS": "apps.streams.anonymous_streams",
		"STREAMS_AUTHORIZE_URL": "apps.streams.provider.authorize_url", "STREAMS_TOKEN_URL": "apps.streams.provider.token_url",
		"STREAMS_USERINFO_URL": "apps.streams.provider.userinfo_url", "STREAMS_CLIENT_ID": "apps.streams.provider.client_id",
		"STREAMS_CLIENT_SECRET":      "apps.streams.provider.client_secret",
		"STREAMS_CLIENT_SECRET_FILE": "apps.streams.provider.client_secret_file",
		"STREAMS_REDIRECT_URI":       "apps.streams.provider.redirect_uri",
	} {
		if got := byName[config.EnvPrefix+name]; got != path {
			t.Errorf("%s%s sets %q, want %q", config.EnvPrefix, name, got, path)
		}
	}
}

// TestEnvSetsEveryKind: one variable of each kind the rule reads.
func TestEnvSetsEveryKind(t *testing.T) {
	env := map[string]string{
		config.EnvPrefix + "CHAT_SOCKETIO_PING_INTERVAL": "7s", config.EnvPrefix + "PUBLISH_RATE": "12.5",
		config.EnvPrefix + "MAX_CONNS": "9", config.EnvPrefix + "STREAMS_REQUIRE_STATE": "true",
		config.EnvPrefix + "CORS_ORIGINS": "https://a.example,https://b.example", config.EnvPrefix + "CHAT_SOCKETIO_MAX_PAYLOAD": "5000",
	}
	cfg, _, err := node.LoadConfig(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if chat.Settings(cfg).SocketIO.PingInterval.D() != 7*time.Second || cfg.Limits.PublishRate != 12.5 || cfg.Limits.MaxConns != 9 ||
		!streams.Settings(cfg).RequireState || len(cfg.CORSOrigins) != 2 || chat.Settings(cfg).SocketIO.MaxPayload != 5000 {
		t.Fatalf("config %+v", cfg)
	}
	if _, _, err := node.LoadConfig(nil, func(k string) string { return map[string]string{config.EnvPrefix + "MAX_CONNS": "many"}[k] }); err == nil ||
		!strings.Contains(err.Error(), config.EnvPrefix+"MAX_CONNS") {
		t.Fatalf("a bad number: %v", err)
	}
}

// TestFrontendFlag: -frontend (frust's --dev mode) sets the counter's frontend folder.
func TestFrontendFlag(t *testing.T) {
	cfg, _, err := node.LoadConfig([]string{"-frontend", "/srv/frust-web"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if got := counter.Settings(cfg).Frontend; got != "/srv/frust-web" {
		t.Fatalf("frontend %q", got)
	}
}
