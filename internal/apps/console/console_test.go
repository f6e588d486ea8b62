package console_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/apps/console"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node/nodetest"
	"github.com/switchboard/switchboard/internal/store"
)

const guard = 10 * time.Second // bounds every wait; not a speed assertion

type resp struct {
	status int
	body   map[string]any
	header http.Header
}

func do(t *testing.T, c *http.Client, method, url, body string, header ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	out := resp{status: r.StatusCode, header: r.Header}
	_ = json.NewDecoder(r.Body).Decode(&out.body)
	return out
}

func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: guard}
}

// TestAccess: without a secret the console is read-only from this machine and off through a
// proxy; with one, only a signed-in admin gets in, and only an admin publishes.
func TestAccess(t *testing.T) {
	open := nodetest.Start(t, nodetest.Config(t, nil))
	locked := nodetest.Start(t, nodetest.Config(t, func(c *config.Config) { console.Settings(*c).Password = "s3cret" }))
	c := &http.Client{Timeout: guard}
	for _, tc := range []struct {
		name, base, method, path, body string
		header                         []string
		status                         int
		mode                           string
	}{
		{"loopback without a secret reads", open.URL, "GET", "/console/api/session", "", nil, 200, "readonly"},
		{"through a proxy without a secret: off", open.URL, "GET", "/console/api/session", "", []string{"X-Forwarded-For", "203.0.113.9"}, 200, "off"},
		{"off means off", open.URL, "GET", "/console/api/channels", "", []string{"X-Forwarded-For", "203.0.113.9"}, 403, ""},
		{"read-only lists channels", open.URL, "GET", "/console/api/channels", "", nil, 200, ""},
		{"read-only does not publish", open.URL, "POST", "/console/api/publish", `{"channel":"a","data":1}`, nil, 403, ""},
		{"no sign-in without a secret", open.URL, "POST", "/console/api/login", `{"password":""}`, nil, 403, ""},
		{"a secret: signed out first", locked.URL, "GET", "/console/api/session", "", nil, 200, "signin"},
		{"a secret: the API wants a session", locked.URL, "GET", "/console/api/channels", "", nil, 401, ""},
		{"a wrong password", locked.URL, "POST", "/console/api/login", `{"password":"nope"}`, nil, 401, ""},
		{"a forged cookie", locked.URL, "GET", "/console/api/channels", "", []string{"Cookie", "sb_console=forged"}, 401, ""},
		{"the page is public", locked.URL, "GET", "/console/", "", nil, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, c, tc.method, tc.base+tc.path, tc.body, tc.header...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (%v)", r.status, tc.status, r.body)
			}
			if tc.mode != "" && r.body["mode"] != tc.mode {
				t.Fatalf("mode %v, want %s (%v)", r.body["mode"], tc.mode, r.body["reason"])
			}
			if tc.status >= 400 && r.body["error"] == nil && tc.path != "/console/" {
				t.Fatalf("a refusal without a JSON error: %v", r.body)
			}
		})
	}
}

// TestSignIn: the password signs in with an HttpOnly, SameSite=Strict cookie whose hash alone
// is stored; the session publishes (JSON only); sign-out ends it.
func TestSignIn(t *testing.T) {
	cfg := nodetest.Config(t, func(c *config.Config) { console.Settings(*c).Password = "s3cret" })
	n := nodetest.Start(t, cfg)
	c := client(t)
	r := do(t, c, "POST", n.URL+"/console/api/login", `{"password":"s3cret"}`)
	if r.status != 200 {
		t.Fatalf("sign-in: %d %v", r.status, r.body)
	}
	var cookie *http.Cookie
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		cookie = ck
	}
	if cookie == nil || cookie.Name != "sb_console" || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/console/" {
		t.Fatalf("cookie %+v", cookie)
	}
	db, err := store.Open(context.Background(), "", cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored string
	if err := db.Read().QueryRow(`SELECT hash FROM console_session`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(cookie.Value))
	if stored == cookie.Value || stored != hex.EncodeToString(sum[:]) {
		t.Fatalf("stored %q: want the token's SHA-256, never the token", stored)
	}
	if r := do(t, c, "GET", n.URL+"/console/api/session", ""); r.body["mode"] != "admin" {
		t.Fatalf("session after sign-in: %v", r.body)
	}
	if r := do(t, c, "POST", n.URL+"/console/api/publish", `{"channel":"news","data":{"hi":1}}`); r.status != 200 || r.body["offset"] != 1.0 {
		t.Fatalf("publish: %d %v", r.status, r.body)
	}
	if r := do(t, c, "POST", n.URL+"/console/api/publish", `{"channel":"no such ns:x","data":1}`); r.status != 400 && r.status != 404 {
		t.Fatalf("publish to a bad channel: %d %v", r.status, r.body)
	}
	// A form post (what a cross-site page could send) is refused.
	if r := do(t, c, "POST", n.URL+"/console/api/publish", "", "Content-Type", "application/x-www-form-urlencoded"); r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("a form post: %d", r.status)
	}
	if r := do(t, c, "GET", n.URL+"/console/api/channel?name=news", ""); r.status != 200 {
		t.Fatalf("channel details: %d %v", r.status, r.body)
	} else if pubs := r.body["history"].(map[string]any)["publications"].([]any); len(pubs) != 1 {
		t.Fatalf("history %v, want the publication", r.body["history"])
	}
	if r := do(t, c, "POST", n.URL+"/console/api/logout", `{}`); r.status != 200 {
		t.Fatalf("sign-out: %d", r.status)
	}
	if r := do(t, c, "GET", n.URL+"/console/api/channels", "", "Cookie", "sb_console="+cookie.Value); r.status != 401 {
		t.Fatalf("the old cookie after sign-out: %d", r.status)
	}
}

// TestLoginRate: sign-in attempts from one address are limited; the limit answers 429 with
// Retry-After, even for the right password.
func TestLoginRate(t *testing.T) {
	n := nodetest.Start(t, nodetest.Config(t, func(c *config.Config) {
		s := console.Settings(*c)
		s.Password, s.LoginRate = "s3cret", 3
	}))
	c := &http.Client{Timeout: guard}
	for i := range 3 {
		if r := do(t, c, "POST", n.URL+"/console/api/login", `{"password":"guess"}`); r.status != 401 {
			t.Fatalf("attempt %d: %d", i, r.status)
		}
	}
	r := do(t, c, "POST", n.URL+"/console/api/login", `{"password":"s3cret"}`)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("fourth attempt: %d %v", r.status, r.body)
	}
}

// TestFeed: the feed opens with the samples kept (a JSON array), then one sample a second,
// with the node's figures.
func TestFeed(t *testing.T) {
	n := nodetest.Start(t, nodetest.Config(t, nil))
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", n.URL+"/console/api/feed", nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if ct := r.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := readEvents(t, r.Body, 2)
	if events[0].name != "history" || !strings.HasPrefix(events[0].data, "[") {
		t.Fatalf("first event %q: %.80s", events[0].name, events[0].data)
	}
	var f struct {
		Store       string `json:"store"`
		Broker      string `json:"broker"`
		Connections []struct {
			App, Transport string
			N              int
		} `json:"connections"`
	}
	if events[1].name != "stats" || json.Unmarshal([]byte(events[1].data), &f) != nil {
		t.Fatalf("second event %q: %.200s", events[1].name, events[1].data)
	}
	if f.Store != "sqlite" || f.Broker != "memory" || len(f.Connections) != 1 || f.Connections[0].App != "console" || f.Connections[0].Transport != "sse" {
		t.Fatalf("figures %+v: want sqlite, memory and this feed as the one connection", f)
	}
}

type event struct{ name, data string }

func readEvents(t *testing.T, r io.Reader, n int) []event {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	out := make([]event, n)
	for i := range out {
		out[i] = nextEvent(t, sc)
	}
	return out
}

// nextEvent reads one SSE event; the stream ending first fails the test.
func nextEvent(t *testing.T, sc *bufio.Scanner) event {
	t.Helper()
	var cur event
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data += strings.TrimPrefix(line, "data: ")
		case line == "" && cur.name != "":
			return cur
		}
	}
	t.Fatalf("the stream ended before an event (%v)", sc.Err())
	return cur
}
