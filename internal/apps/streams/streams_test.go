package streams_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard/switchboard/internal/apps/streams"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node"
	"github.com/switchboard/switchboard/internal/node/nodetest"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

const guard = 10 * time.Second // bounds every wait; not a speed assertion

// fakeWCA stands in for the provider: POST /oauth/token and GET /api/v0/me, as WCA answers.
type fakeWCA struct {
	*httptest.Server
	mu     sync.Mutex
	tokens map[string]map[string]any // access token → me
}

func newFakeWCA(t *testing.T) *fakeWCA {
	f := &fakeWCA{tokens: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		code := r.Form.Get("code")
		if r.Form.Get("client_secret") != "s3cret" || r.Form.Get("grant_type") != "authorization_code" || !strings.HasPrefix(code, "good-") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"The provided authorization grant is invalid"}`))
			return
		}
		me := map[string]any{"id": 6, "wca_id": "2099TEST01", "name": "Test User", "country_iso2": "US"}
		if code == "good-unverified" {
			me = map[string]any{"id": 7, "wca_id": nil, "name": "New Person"}
		}
		at := "at-" + code
		f.mu.Lock()
		f.tokens[at] = me
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 7200, "refresh_token": "rt", "scope": "public", "created_at": 1612400000})
	})
	mux.HandleFunc("GET /api/v0/me", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		me, ok := f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(401)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"me": me})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func start(t *testing.T, wca *fakeWCA, mutate func(*config.Config)) *nodetest.Node {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Limits.HTTPRate = 0
	p := &streams.Settings(cfg).Provider
	p.AuthorizeURL, p.TokenURL, p.UserInfoURL = wca.URL+"/oauth/authorize", wca.URL+"/oauth/token", wca.URL+"/api/v0/me"
	p.ClientID, p.ClientSecret, p.RedirectURI = "test-client", "s3cret", "http://127.0.0.1/v0/auth/wca/oauth_callback"
	streams.Settings(cfg).ClientURL = "http://app.example/stream/"
	if mutate != nil {
		mutate(&cfg)
	}
	return nodetest.Start(t, cfg)
}

type resp struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, u string) resp {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.Header, string(b)}
}

func want(t *testing.T, r resp, status int, fragments ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	for _, f := range fragments {
		if !strings.Contains(r.body, f) {
			t.Fatalf("answer lacks %s: %s", f, r.body)
		}
	}
}

// browser is an HTTP client that keeps cookies and does not follow redirects.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: guard, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login walks the browser flow with code and returns the claim response.
func login(t *testing.T, base, code string) (token string, info map[string]any) {
	t.Helper()
	b := browser()
	r := do(t, b, "GET", base+"/v0/auth/wca/start")
	want(t, r, 302)
	loc, _ := url.Parse(r.header.Get("Location"))
	q := loc.Query()
	if !strings.HasSuffix(loc.Path, "/oauth/authorize") || q.Get("client_id") != "test-client" || q.Get("response_type") != "code" || q.Get("state") == "" || q.Get("scope") != "public" {
		t.Fatalf("authorize redirect %s", loc)
	}
	r = do(t, b, "GET", base+"/v0/auth/wca/oauth_callback?code="+code+"&state="+q.Get("state"))
	want(t, r, 302)
	app, _ := url.Parse(r.header.Get("Location"))
	claim := app.Query().Get("claimToken")
	if app.Host != "app.example" || app.Path != "/stream/" || !strings.HasPrefix(claim, "claim_token_") || len(claim) != 44 {
		t.Fatalf("callback redirect %s", app)
	}
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("the redirect carries CORS headers")
	}
	r = do(t, b, "POST", base+"/v0/claim?claimToken="+claim)
	want(t, r, 200, `"twizzleAccessToken":"twizzle_access_token_`, `"userInfo":{"twizzleUserID":"user_`)
	// Single use; the refusal has an empty body, as the original's, which the web app's
	// r.json() fails on, keeping the session it has.
	if r := do(t, b, "POST", base+"/v0/claim?claimToken="+claim); r.status != 401 || r.body != "" {
		t.Fatalf("used claim: %d %q, want 401 with an empty body", r.status, r.body)
	}
	var out struct {
		Token string         `json:"twizzleAccessToken"`
		Info  map[string]any `json:"userInfo"`
	}
	_ = json.Unmarshal([]byte(r.body), &out)
	if len(out.Token) != 53 {
		t.Fatalf("token %q", out.Token)
	}
	return out.Token, out.Info
}

type socket struct {
	t *testing.T
	c *websocket.Conn
}

func dial(t *testing.T, base, id, token string) *socket {
	t.Helper()
	u := strings.Replace(base, "http", "ws", 1) + "/v0/streams/" + id + "/socket"
	if token != "" {
		u += "?twizzleAccessToken=" + token
	}
	c, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &socket{t, c}
}

func (s *socket) send(v string) {
	if err := s.c.WriteMessage(websocket.TextMessage, []byte(v)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *socket) read() map[string]any {
	s.t.Helper()
	_ = s.c.SetReadDeadline(time.Now().Add(guard))
	_, b, err := s.c.ReadMessage()
	if err != nil {
		s.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatalf("not an object: %s", b)
	}
	return m
}

// live waits until every socket in to is subscribed. A socket's 101 can come before its
// subscription is in place, and a message sent in between reaches it only as replay. from
// relays markers (relayed, never replayed) until each socket has seen one, then one last
// marker that every socket reads up to, so no marker is left in any queue.
func live(t *testing.T, from *socket, to ...*socket) {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = from.c.WriteMessage(websocket.TextMessage, []byte(`{"event":"sync"}`))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	for _, s := range to {
		if got := s.read(); got["event"] != "sync" {
			close(stop)
			t.Fatalf("while syncing: %v", got)
		}
	}
	close(stop)
	<-done
	from.send(`{"event":"sync-end"}`)
	for _, s := range to {
		for {
			got := s.read()
			if got["event"] == "sync-end" {
				break
			}
			if got["event"] != "sync" {
				t.Fatalf("while syncing: %v", got)
			}
		}
	}
}

const (
	move        = `{"event":"move","data":{"latestMove":{"family":"R","amount":1,"type":"blockMove"},"timeStamp":48213,"binaryState":"00 00 00 00 00 00 00 00 00 10 00"}}`
	orientation = `{"event":"orientation","data":{"quaternion":{"x":0.1234,"y":-0.5,"z":0,"w":0.8571},"timeStamp":48213}}`
	reset       = `{"event":"reset","data":{"trackingOrientation":true}}`
)

func TestFlow(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { flow(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		flow(t, func(c *config.Config) { c.Store = dsn })
	})
}

func flow(t *testing.T, useStore func(*config.Config)) {
	wca := newFakeWCA(t)
	n := start(t, wca, func(c *config.Config) {
		streams.Settings(*c).SenderRate = 0 // sync markers on a slow machine could spend it (TestSenderRate tests it)
		if useStore != nil {
			useStore(c)
		}
	})
	plain := &http.Client{Timeout: guard}
	token, who := login(t, n.URL, "good-1")
	if who["wcaID"] != "2099TEST01" || who["name"] != "Test User (2099TEST01)" {
		t.Fatalf("user info %v", who)
	}
	// A second login of the same account is the same user.
	_, again := login(t, n.URL, "good-2")
	if again["twizzleUserID"] != who["twizzleUserID"] {
		t.Fatalf("second login made a new user: %v vs %v", again, who)
	}
	_, other := login(t, n.URL, "good-unverified")
	if other["wcaID"] != nil || other["name"] != "New Person (unverified)" {
		t.Fatalf("unverified user %v", other)
	}

	r := do(t, plain, "POST", n.URL+"/v0/streams?twizzleAccessToken="+token)
	want(t, r, 200, `{"stream":{"streamID":"twizzle_stream_`, `"senders":[{"twizzleUserID":"`+who["twizzleUserID"].(string)+`","wcaID":"2099TEST01","name":"Test User (2099TEST01)"}]`)
	var created struct{ Stream struct{ StreamID string } }
	_ = json.Unmarshal([]byte(r.body), &created)
	id := created.Stream.StreamID
	if len(id) != 31 {
		t.Fatalf("stream id %q", id)
	}
	want(t, do(t, plain, "GET", n.URL+"/v0/streams"), 200, `{"streams":[{"streamID":"`+id+`","senders":[{`)

	// One sender, two viewers now; the sender's messages reach the viewers with the server's
	// timestamps, and are not echoed to the sender.
	sender := dial(t, n.URL, id, token)
	v1, v2 := dial(t, n.URL, id, ""), dial(t, n.URL, id, "")
	v1.send(`{"event":"move","data":{}}`) // a viewer's message is ignored, and it stays
	_ = v2.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(guard))
	live(t, sender, v1, v2)
	before := time.Now().UnixMilli()
	sender.send(reset) // the first reset is relayed (the original dropped it)
	sender.send(move)
	sender.send(orientation)
	sender.send(`42`)                       // not an object: dropped
	sender.send(`{"event":"custom","x":1}`) // relayed, not kept
	for _, v := range []*socket{v1, v2} {
		got := v.read()
		if got["event"] != "reset" || got["data"].(map[string]any)["trackingOrientation"] != true {
			t.Fatalf("first %v", got)
		}
		m := v.read()
		if m["event"] != "move" || m["data"].(map[string]any)["latestMove"].(map[string]any)["family"] != "R" {
			t.Fatalf("move %v", m)
		}
		ts := int64(m["timestampUnixMS"].(float64))
		// Exactly JavaScript's new Date(ts).toString() in UTC.
		human := time.UnixMilli(ts).UTC().Format("Mon Jan 02 2006 15:04:05") + " GMT+0000 (Coordinated Universal Time)"
		if ts < before || m["timestampHuman"] != human {
			t.Fatalf("timestamps %v, want timestampHuman %q", m, human)
		}
		if o := v.read(); o["event"] != "orientation" {
			t.Fatalf("orientation %v", o)
		}
		if c := v.read(); c["event"] != "custom" || c["x"] != float64(1) {
			t.Fatalf("custom %v", c)
		}
	}

	// A late viewer gets the latest reset, orientation and move, in that order.
	late := dial(t, n.URL, id, "")
	for _, kind := range []string{"reset", "orientation", "move"} {
		if got := late.read(); got["event"] != kind {
			t.Fatalf("late viewer got %v, want %s", got, kind)
		}
	}
	// A reset right after an identical one is the original's loop guard: dropped.
	live(t, sender, v1, v2, late)
	sender.send(reset)
	sender.send(reset)
	sender.send(`{"event":"move","data":{"latestMove":{"family":"U","amount":-1,"type":"blockMove"}}}`)
	for i, v := range []*socket{v1, late} {
		if got := v.read(); got["event"] != "reset" {
			t.Fatalf("viewer %d: want the reset: %v", i, got)
		}
		if got := v.read(); got["event"] != "move" || got["data"].(map[string]any)["latestMove"].(map[string]any)["family"] != "U" {
			t.Fatalf("after the duplicate reset: %v", got)
		}
	}
	// No echo: with a second socket of the same sender, the first socket's next message is
	// the second's, although its own was relayed before it.
	second := dial(t, n.URL, id, token)
	live(t, second, sender)
	sender.send(`{"event":"custom","from":"first"}`)
	if got := second.read(); got["from"] != "first" {
		t.Fatalf("second sender got %v", got)
	}
	second.send(`{"event":"custom","from":"second"}`)
	if got := sender.read(); got["from"] != "second" {
		t.Fatalf("the sender was echoed its own message: %v", got)
	}
}

func TestErrors(t *testing.T) {
	wca := newFakeWCA(t)
	n := start(t, wca, func(c *config.Config) {
		streams.Settings(*c).MaxStreamsPerUser = 2
		streams.Settings(*c).MaxFrameBytes = 1024
	})
	plain := &http.Client{Timeout: guard}
	b := browser()
	for _, tc := range []struct {
		name, method, path string
		status             int
		msg                string
	}{
		{"create with a bad token", "POST", "/v0/streams?twizzleAccessToken=twizzle_access_token_00", 401, "invalid twizzle access token"},
		{"create anonymously", "POST", "/v0/streams", 401, "twizzleAccessToken is required"},
		{"callback without code", "GET", "/v0/auth/wca/oauth_callback", 400, "code was not provided"},
		{"claim without token", "POST", "/v0/claim", 400, ""},
		{"claim unknown", "POST", "/v0/claim?claimToken=claim_token_00", 401, ""},
		{"socket without upgrade", "GET", "/v0/streams/twizzle_stream_00/socket", 400, "WebSocket upgrade"},
		{"logout unknown", "POST", "/v0/auth/logout?twizzleAccessToken=x", 401, "invalid twizzle access token"},
	} {
		t.Run(tc.name, func(t *testing.T) { want(t, do(t, plain, tc.method, n.URL+tc.path), tc.status, tc.msg) })
	}
	// A callback whose state is not the browser's, and a code the provider refuses.
	want(t, do(t, b, "GET", n.URL+"/v0/auth/wca/start"), 302)
	want(t, do(t, b, "GET", n.URL+"/v0/auth/wca/oauth_callback?code=good-1&state=forged"), 403, "state does not match")
	r := do(t, b, "GET", n.URL+"/v0/auth/wca/start")
	state := func() string { u, _ := url.Parse(r.header.Get("Location")); return u.Query().Get("state") }()
	want(t, do(t, b, "GET", n.URL+"/v0/auth/wca/oauth_callback?code=bad&state="+state), 403, "Could not get WCA info. Please start over.")

	token, _ := login(t, n.URL, "good-1")
	for range 2 {
		want(t, do(t, plain, "POST", n.URL+"/v0/streams?twizzleAccessToken="+token), 200)
	}
	want(t, do(t, plain, "POST", n.URL+"/v0/streams?twizzleAccessToken="+token), 429, "at most 2 per user")

	// Socket refusals are plain HTTP answers to the upgrade.
	for _, tc := range []struct {
		id, token string
		status    int
	}{{"twizzle_stream_0000000000000000", "", 404}, {"", "twizzle_access_token_bad", 401}} {
		id := tc.id
		if id == "" {
			var l struct{ Streams []struct{ StreamID string } }
			_ = json.Unmarshal([]byte(do(t, plain, "GET", n.URL+"/v0/streams").body), &l)
			id = l.Streams[0].StreamID
		}
		u := strings.Replace(n.URL, "http", "ws", 1) + "/v0/streams/" + id + "/socket?twizzleAccessToken=" + tc.token
		_, res, err := websocket.DefaultDialer.Dial(u, nil)
		if err == nil || res == nil || res.StatusCode != tc.status {
			t.Fatalf("dial %s: %v, %v", id, res, err)
		}
	}
	// An oversized frame from a sender closes it with 1009.
	var l struct{ Streams []struct{ StreamID string } }
	_ = json.Unmarshal([]byte(do(t, plain, "GET", n.URL+"/v0/streams").body), &l)
	s := dial(t, n.URL, l.Streams[0].StreamID, token)
	s.send(`{"event":"move","pad":"` + strings.Repeat("x", 2000) + `"}`)
	_ = s.c.SetReadDeadline(time.Now().Add(guard))
	_, _, err := s.c.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized frame: %v", err)
	}
	// Logout revokes the token.
	want(t, do(t, plain, "POST", n.URL+"/v0/auth/logout?twizzleAccessToken="+token), 200)
	want(t, do(t, plain, "POST", n.URL+"/v0/streams?twizzleAccessToken="+token), 401)
}

// TestStreamEnds: a stream whose sender has been gone for stream_timeout is closed for its
// viewers and removed; a sender's return within the timeout keeps it.
func TestStreamEnds(t *testing.T) {
	wca := newFakeWCA(t)
	n := start(t, wca, func(c *config.Config) { streams.Settings(*c).StreamTimeout = config.Duration(400 * time.Millisecond) })
	plain := &http.Client{Timeout: guard}
	token, _ := login(t, n.URL, "good-1")
	var created struct{ Stream struct{ StreamID string } }
	_ = json.Unmarshal([]byte(do(t, plain, "POST", n.URL+"/v0/streams?twizzleAccessToken="+token).body), &created)
	id := created.Stream.StreamID
	sender := dial(t, n.URL, id, token)
	viewer := dial(t, n.URL, id, "")
	live(t, sender, viewer)
	sender.send(move)
	if got := viewer.read(); got["event"] != "move" {
		t.Fatalf("viewer got %v", got)
	}
	sender.c.Close()
	// The viewer stays connected while the stream waits for its sender, then is closed.
	_ = viewer.c.SetReadDeadline(time.Now().Add(guard))
	_, _, err := viewer.c.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != websocket.CloseNormalClosure {
		t.Fatalf("viewer close: %v", err)
	}
	want(t, do(t, plain, "GET", n.URL+"/v0/streams"), 200, `{"streams":[]}`)
	u := strings.Replace(n.URL, "http", "ws", 1) + "/v0/streams/" + id + "/socket"
	if _, res, err := websocket.DefaultDialer.Dial(u, nil); err == nil || res.StatusCode != 404 {
		t.Fatalf("ended stream still dials: %v", err)
	}
}

// refusedSenderRate reads the count of sender messages dropped for their rate.
func refusedSenderRate(t *testing.T, base string) int {
	t.Helper()
	r := do(t, &http.Client{Timeout: guard}, "GET", base+"/metrics")
	for _, line := range strings.Split(r.body, "\n") {
		if v, ok := strings.CutPrefix(line, `switchboard_refused_total{limit="stream_sender_rate"} `); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// TestSenderRate: past its rate a sender's messages are dropped, counted, and never relayed
// or kept for late viewers.
func TestSenderRate(t *testing.T) {
	wca := newFakeWCA(t)
	n := start(t, wca, func(c *config.Config) { streams.Settings(*c).SenderRate = 0.001 }) // a burst of 1, then one per 1000 s
	plain := &http.Client{Timeout: guard}
	token, _ := login(t, n.URL, "good-1")
	var created struct{ Stream struct{ StreamID string } }
	_ = json.Unmarshal([]byte(do(t, plain, "POST", n.URL+"/v0/streams?twizzleAccessToken="+token).body), &created)
	id := created.Stream.StreamID
	sender := dial(t, n.URL, id, token)
	viewer := dial(t, n.URL, id, "")
	_ = viewer
	before := refusedSenderRate(t, n.URL)
	for _, family := range []string{"R", "U", "F", "L"} {
		sender.send(`{"event":"move","data":{"latestMove":{"family":"` + family + `","amount":1,"type":"blockMove"}}}`)
	}
	// All four are read by the server once three are counted as dropped.
	for deadline := time.Now().Add(guard); refusedSenderRate(t, n.URL)-before < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("dropped %d of the 3 over the rate", refusedSenderRate(t, n.URL)-before)
		}
	}
	// The one that passed is the stream's latest move.
	late := dial(t, n.URL, id, "")
	if got := late.read(); got["event"] != "move" || got["data"].(map[string]any)["latestMove"].(map[string]any)["family"] != "R" {
		t.Fatalf("latest move %v", got)
	}
}

// TestCallbackState: the web app's own authorize link carries no state and signs in with the
// default config, even with a leftover state cookie from an unfinished /start; a callback
// that carries a state is checked against the browser's; require_state refuses state-less
// callbacks.
func TestCallbackState(t *testing.T) {
	wca := newFakeWCA(t)
	for _, tc := range []struct {
		name         string
		requireState bool
		start        bool   // visit /v0/auth/wca/start first (sets the state cookie)
		state        string // "" none, "start" the one /start issued, else as given
		status       int
		msg          string
	}{
		{"state-less callback, as the original web app sends it", false, false, "", 302, ""},
		{"state-less callback after an unfinished /start", false, true, "", 302, ""},
		{"state from /start", false, true, "start", 302, ""},
		{"forged state", false, true, "forged", 403, "state does not match"},
		{"state without a cookie", false, false, "forged", 403, "state does not match"},
		{"require_state: state-less callback", true, false, "", 403, "must start at /v0/auth/wca/start"},
		{"require_state: state-less callback after /start", true, true, "", 403, "must start at /v0/auth/wca/start"},
		{"require_state: state from /start", true, true, "start", 302, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := start(t, wca, func(c *config.Config) { streams.Settings(*c).RequireState = tc.requireState })
			b := browser()
			state := tc.state
			if tc.start {
				r := do(t, b, "GET", n.URL+"/v0/auth/wca/start")
				want(t, r, 302)
				if state == "start" {
					u, _ := url.Parse(r.header.Get("Location"))
					state = u.Query().Get("state")
				}
			}
			u := n.URL + "/v0/auth/wca/oauth_callback?code=good-1"
			if state != "" {
				u += "&state=" + url.QueryEscape(state)
			}
			r := do(t, b, "GET", u)
			want(t, r, tc.status, tc.msg)
			if tc.status != 302 {
				return
			}
			claim, _ := url.Parse(r.header.Get("Location"))
			want(t, do(t, b, "POST", n.URL+"/v0/claim?claimToken="+claim.Query().Get("claimToken")), 200, `"twizzleAccessToken"`)
		})
	}
}

// TestSocketOrigin: the stream socket checks Origin against cors_origins, as /v1/ws does (the
// original checked none).
func TestSocketOrigin(t *testing.T) {
	wca := newFakeWCA(t)
	n := start(t, wca, func(c *config.Config) { c.CORSOrigins = []string{"https://app.example"} })
	token, _ := login(t, n.URL, "good-1")
	var created struct{ Stream struct{ StreamID string } }
	_ = json.Unmarshal([]byte(do(t, &http.Client{Timeout: guard}, "POST", n.URL+"/v0/streams?twizzleAccessToken="+token).body), &created)
	u := strings.Replace(n.URL, "http", "ws", 1) + "/v0/streams/" + created.Stream.StreamID + "/socket"
	for _, tc := range []struct {
		origin string
		status int
	}{{"https://app.example", 101}, {"", 101}, {"https://evil.example", 403}} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, res, err := websocket.DefaultDialer.Dial(u, h)
		if c != nil {
			c.Close()
		}
		if res == nil || res.StatusCode != tc.status {
			t.Fatalf("origin %q: %v, %v; want %d", tc.origin, res, err, tc.status)
		}
	}
}

// TestDevSignin: without an OAuth client, a browser on this machine signs in under a name with
// the stand-in (a claim token exchanged at /v0/claim as usual) and can stream; through a proxy,
// with a bad name, or once a client is configured, it cannot.
func TestDevSignin(t *testing.T) {
	devNode := start(t, newFakeWCA(t), func(c *config.Config) { streams.Settings(*c).Provider.ClientID = "" })
	realNode := start(t, newFakeWCA(t), nil)
	post := func(base, body string, header ...string) resp {
		req, _ := http.NewRequest("POST", base+"/v0/auth/dev/claim", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return resp{r.StatusCode, r.Header, string(b)}
	}
	for _, tc := range []struct {
		name, base, body string
		header           []string
		status           int
	}{
		{"an OAuth client is configured", realNode.URL, `{"name":"ann"}`, nil, 404},
		{"through a proxy", devNode.URL, `{"name":"ann"}`, []string{"X-Forwarded-For", "203.0.113.9"}, 403},
		{"no name", devNode.URL, `{"name":"  "}`, nil, 400},
		{"a control character", devNode.URL, `{"name":"a\u0007b"}`, nil, 400},
		{"a long name", devNode.URL, `{"name":"` + strings.Repeat("x", 41) + `"}`, nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) { want(t, post(tc.base, tc.body, tc.header...), tc.status, `"error"`) })
	}
	r := post(devNode.URL, `{"name":"ann"}`)
	want(t, r, 200, `"claimToken":"claim_token_`)
	var claim struct{ ClaimToken string }
	_ = json.Unmarshal([]byte(r.body), &claim)
	c := do(t, http.DefaultClient, "POST", devNode.URL+"/v0/claim?claimToken="+claim.ClaimToken)
	want(t, c, 200, `"twizzleAccessToken":"twizzle_access_token_`, `"name":"ann (stand-in)"`)
	var access struct{ TwizzleAccessToken string }
	_ = json.Unmarshal([]byte(c.body), &access)
	s := do(t, http.DefaultClient, "POST", devNode.URL+"/v0/streams?twizzleAccessToken="+access.TwizzleAccessToken)
	want(t, s, 200, `"streamID":"twizzle_stream_`, `"name":"ann (stand-in)"`)
	var created struct{ Stream struct{ StreamID string } }
	_ = json.Unmarshal([]byte(s.body), &created)
	sender := dial(t, devNode.URL, created.Stream.StreamID, access.TwizzleAccessToken)
	viewer := dial(t, devNode.URL, created.Stream.StreamID, "")
	live(t, sender, viewer)
}
