package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(file, []byte(`{"addr":"127.0.0.1:1","data":"fromfile","limits":{"ping_interval":"7s","max_conns_per_ip":5}}`), 0o600)
	cfg, _, err := Load([]string{"-config", file, "-addr", "127.0.0.1:3"}, env(map[string]string{
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
	if cfg.Limits.QueueBytes != Default().Limits.QueueBytes {
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(tt.args, env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	var d Duration
	if err := d.UnmarshalJSON([]byte(`1.5`)); err != nil || d.D() != 1500*time.Millisecond {
		t.Fatalf("seconds: %v %v", d, err)
	}
	b, _ := Duration(90 * time.Second).MarshalJSON()
	if string(b) != `"1m30s"` {
		t.Fatalf("marshal: %s", b)
	}
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSignalConfig(t *testing.T) {
	env := map[string]string{"SWITCHBOARD_SIGNAL_PREFIX": "/sig", "SWITCHBOARD_SIGNAL_V1_ENABLED": "false",
		"SWITCHBOARD_SIGNAL_AUTH_SECRET": strings.Repeat("ab", 32)}
	cfg, _, err := Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Apps.Signal; s.Prefix != "/sig" || s.V1.Enabled || !s.V4.Enabled || s.AuthSecret != strings.Repeat("ab", 32) || s.OfferDefaultTTL != 60000 {
		t.Fatalf("signal config %+v", s)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Signal)
		want   string
	}{
		{"short key", func(s *Signal) { s.AuthSecret = "abcd" }, "auth_secret must be 64 hex"},
		{"not hex", func(s *Signal) { s.AuthSecret = strings.Repeat("zz", 32) }, "auth_secret must be 64 hex"},
		{"tiny ttl", func(s *Signal) { s.OfferMinTTL = 10 }, "offer_min_ttl must be at least 1000"},
		{"min above max", func(s *Signal) { s.OfferMinTTL = 90000000 }, "offer_min_ttl is above offer_max_ttl"},
		{"zero batch", func(s *Signal) { s.MaxBatchSize = 0 }, "max_batch_size must be at least 1"},
		{"small sdp", func(s *Signal) { s.MaxSDPSize = 10 }, "max_sdp_size must be at least 1024"},
		{"negative rate", func(s *Signal) { s.RequestsPerIP = -1 }, "requests_per_ip_per_second cannot be negative"},
		{"bad prefix", func(s *Signal) { s.V4.Prefix = "v4/" }, "apps.signal.v4.prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c.Apps.Signal)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
