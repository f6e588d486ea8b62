package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/broker"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/store/storetest"
	"github.com/switchboard/switchboard/internal/transport"
)

// testApp has routes that exercise the middleware.
type testApp struct{}

func (testApp) Name() string { return "test" }
func (testApp) Routes(r *httpx.Router) {
	r.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) { httpx.JSON(w, 200, map[string]bool{"ok": true}) })
	r.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	r.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			httpx.Error(w, http.StatusRequestEntityTooLarge, err.Error())
			return
		}
		w.Write(b)
	})
}

func newTestServer(t *testing.T, mutate func(*config.Config)) *httptest.Server {
	t.Helper()
	cfg := config.Default()
	cfg.APIKey = "k"
	cfg.Limits.MaxBodyBytes = 16
	mutate(&cfg)
	mem := broker.NewMemory(time.Hour)
	reg := transport.NewRegistry(0, 0, time.Hour)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(cfg, log, storetest.SQLite(t), mem, reg, "test", Mount{App: testApp{}, Prefix: "/app"})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func get(t *testing.T, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestMiddleware(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Limits.HTTPRate = 0 })
	tests := []struct {
		name, method, path, body string
		want                     int
		contains                 string
	}{
		{"mounted below its prefix", "GET", "/app/ok", "", 200, `"ok":true`},
		{"not at the bare path", "GET", "/ok", "", 404, `"error":"no such route"`},
		{"a panic becomes a JSON 500", "GET", "/app/panic", "", 500, `"error":"internal server error"`},
		{"wrong method is a JSON 405", "POST", "/app/ok", "", 405, `"error":"method not allowed"`},
		{"body within the limit", "POST", "/app/echo", "0123456789", 200, "0123456789"},
		{"body over the limit", "POST", "/app/echo", strings.Repeat("x", 17), 413, `"error"`},
		{"health", "GET", "/healthz", "", 200, `"status":"ok"`},
		{"ready", "GET", "/readyz", "", 200, `"broker":"ok"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || !strings.Contains(string(b), tt.contains) {
				t.Fatalf("%d %s, want %d containing %q", resp.StatusCode, b, tt.want, tt.contains)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Fatal("no request id")
			}
		})
	}
	resp, _ := get(t, ts.URL+"/app/ok", map[string]string{"X-Request-Id": "abc"})
	if resp.Header.Get("X-Request-Id") != "abc" {
		t.Fatal("a client's request id must be kept")
	}
	_, metrics := get(t, ts.URL+"/metrics", nil)
	if !strings.Contains(metrics, `switchboard_http_request_duration_seconds_count{code="200",route="GET /app/ok"}`) {
		t.Fatal("no latency metric by route pattern")
	}
}

func TestHTTPRateLimit(t *testing.T) {
	// A refill of one token per 1000 s: the burst of 3 is all this test can get.
	ts := newTestServer(t, func(c *config.Config) { c.Limits.HTTPRate = 0.001; c.Limits.HTTPBurst = 3 })
	codes := map[int]int{}
	for i := 0; i < 5; i++ {
		resp, body := get(t, ts.URL+"/app/ok", nil)
		codes[resp.StatusCode]++
		if resp.StatusCode == 429 && (!strings.Contains(body, `"error"`) || resp.Header.Get("Retry-After") == "") {
			t.Fatalf("429 without a JSON error and Retry-After: %s", body)
		}
	}
	if codes[200] != 3 || codes[429] != 2 {
		t.Fatalf("status counts %v", codes)
	}
	for i := 0; i < 5; i++ {
		if resp, _ := get(t, ts.URL+"/app/ok", map[string]string{"X-API-Key": "k"}); resp.StatusCode != 200 {
			t.Fatalf("a request with the API key was limited: %d", resp.StatusCode)
		}
	}
}

func TestDrainMarksNotReady(t *testing.T) {
	cfg := config.Default()
	cfg.ShutdownTimeout = config.Duration(5 * time.Second)
	mem := broker.NewMemory(time.Hour)
	reg := transport.NewRegistry(0, 0, time.Hour)
	s := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), storetest.SQLite(t), mem, reg, "test")
	s.draining.Store(true)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 {
		t.Fatalf("readyz while draining: %d", rec.Code)
	}
	if err := reg.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(nil, "1.2.3.4"); err != transport.ErrDraining {
		t.Fatalf("a connection during drain: %v", err)
	}
}

func TestPprofIsOptIn(t *testing.T) {
	off := newTestServer(t, func(c *config.Config) {})
	if resp, _ := get(t, off.URL+"/debug/pprof/", nil); resp.StatusCode != 404 {
		t.Fatalf("pprof served by default: %d", resp.StatusCode)
	}
	on := newTestServer(t, func(c *config.Config) { c.Pprof = true })
	if resp, _ := get(t, on.URL+"/debug/pprof/", nil); resp.StatusCode != 200 {
		t.Fatalf("pprof on: %d", resp.StatusCode)
	}
}

func TestClientIPThroughTrustedProxies(t *testing.T) {
	trusted, err := config.ParsePrefixes([]string{"127.0.0.1", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer, xff, want string
	}{
		{"no proxy configured for the peer", "192.0.2.7:1000", "1.2.3.4", "192.0.2.7"},
		{"trusted peer, one hop", "127.0.0.1:1000", "1.2.3.4", "1.2.3.4"},
		{"forged hops left of the real client are ignored", "127.0.0.1:1000", "6.6.6.6, 1.2.3.4", "1.2.3.4"},
		{"chained trusted proxies are skipped", "127.0.0.1:1000", "1.2.3.4, 10.1.2.3", "1.2.3.4"},
		{"no header", "127.0.0.1:1000", "", "127.0.0.1"},
		{"malformed hop", "127.0.0.1:1000", "nonsense", "127.0.0.1"},
		{"IPv6 client", "127.0.0.1:1000", "2001:db8::1", "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := httpx.ResolveClientIP(r, trusted); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRateLimitPerForwardedClient(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.Limits.HTTPRate, c.Limits.HTTPBurst = 0.001, 1
		c.TrustedProxies = []string{"127.0.0.1"}
	})
	// Two clients behind the same proxy have a bucket each.
	for _, client := range []string{"198.51.100.1", "198.51.100.2"} {
		if resp, _ := get(t, ts.URL+"/app/ok", map[string]string{"X-Forwarded-For": client}); resp.StatusCode != 200 {
			t.Fatalf("first request of %s: %d", client, resp.StatusCode)
		}
	}
	if resp, _ := get(t, ts.URL+"/app/ok", map[string]string{"X-Forwarded-For": "198.51.100.1"}); resp.StatusCode != 429 {
		t.Fatalf("second request of one client: %d, want 429", resp.StatusCode)
	}
}
