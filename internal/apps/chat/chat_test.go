package chat_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/apps/chat"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node/nodetest"
	"github.com/switchboard/switchboard/internal/store/storetest"
	"github.com/switchboard/switchboard/internal/transport/sio/siotest"
)

const guard = 10 * time.Second // bounds every wait; not a speed assertion

func start(t *testing.T, mutate func(*config.Config)) *nodetest.Node {
	t.Helper()
	return nodetest.Start(t, nodetest.Config(t, func(c *config.Config) {
		chat.Settings(*c).LoginRate = 0
		if mutate != nil {
			mutate(c)
		}
	}))
}

type resp struct {
	status int
	body   string
}

func call(t *testing.T, method, url, body string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: guard}
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, string(b)}
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

func field[T any](t *testing.T, r resp, name string) T {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("not JSON: %s", r.body)
	}
	v, ok := m[name].(T)
	if !ok {
		t.Fatalf("no %s in %s", name, r.body)
	}
	return v
}

// login signs a user up and logs in, returning id and token.
func login(t *testing.T, base, name string) (int64, string) {
	t.Helper()
	want(t, call(t, "POST", base+"/user", `{"username":"`+name+`","password":"secret1"}`), 200, `"username":"`+name+`"`)
	r := call(t, "POST", base+"/auth", `{"username":"`+name+`","password":"secret1"}`)
	want(t, r, 200, `"token_value":"`)
	return int64(field[float64](t, r, "user_id")), field[string](t, r, "token_value")
}

func eachStore(t *testing.T, fn func(t *testing.T, useStore func(*config.Config))) {
	t.Run("sqlite", func(t *testing.T) { fn(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		fn(t, func(c *config.Config) { c.Store = dsn })
	})
}

func TestREST(t *testing.T) { eachStore(t, restFlow) }

func restFlow(t *testing.T, useStore func(*config.Config)) {
	n := start(t, useStore)
	base := n.URL + "/chat"
	want(t, call(t, "GET", base+"/channel", ""), 200, `[{"id":1,"title":"General","description":"General discussion."},{"id":2,"title":"Code","description":"Electric sheep dreams."}]`)
	alice, tok := login(t, base, "alice")
	bob, bobTok := login(t, base, "bob")
	if strings.Contains(call(t, "GET", base+"/user", "").body, "password") {
		t.Fatal("a password is shown")
	}
	want(t, call(t, "GET", base+"/user/", ""), 200, `{"id":1,"username":"alice"},{"id":2,"username":"bob"}`)
	want(t, call(t, "GET", base+"/user?username=bob", ""), 200, `[{"id":2,"username":"bob"}]`)
	want(t, call(t, "GET", base+"/user?id="+strconv.FormatInt(bob, 10), ""), 200, `{"id":2,"username":"bob"}`)
	want(t, call(t, "GET", base+"/user/1", ""), 200, `{"id":1,"username":"alice"}`)

	// A channel of alice's: she may change and delete it, bob may not.
	r := call(t, "POST", base+"/channel?auth="+tok, `{"title":"Go","description":"gophers"}`)
	want(t, r, 200, `"title":"Go"`)
	ch := strconv.FormatInt(int64(field[float64](t, r, "id")), 10)
	if ch != "3" {
		t.Fatalf("new channel id %s after the two seeded ones", ch)
	}
	want(t, call(t, "PUT", base+"/channel/"+ch+"?auth="+bobTok, `{"title":"mine"}`), 403, "only the channel's creator")
	want(t, call(t, "PUT", base+"/channel/"+ch+"?auth="+tok, `{"title":"Golang"}`), 200, `{"id":3,"title":"Golang","description":"gophers"}`)
	want(t, call(t, "GET", base+"/channel/"+ch, ""), 200, `"title":"Golang"`)
	want(t, call(t, "DELETE", base+"/channel/1?auth="+tok, ""), 403, "only the channel's creator")

	// Messages: either field name in, both out on the write path; the read path pages.
	var ids []string
	for i := range 5 {
		field := "message_text"
		if i%2 == 1 {
			field = "message_body"
		}
		r := call(t, "POST", base+"/message?auth="+tok, `{"`+field+`":"m`+strconv.Itoa(i)+`","channel_id":`+ch+`}`)
		want(t, r, 200, `"message_body":"m`+strconv.Itoa(i)+`"`, `"message_text":"m`+strconv.Itoa(i)+`"`, `"user_id":`+strconv.FormatInt(alice, 10), `"channel_id":3`)
		ids = append(ids, strconv.FormatInt(int64(field2(t, r)), 10))
	}
	want(t, call(t, "POST", base+"/message?auth="+bobTok, `{"message_text":"hi","channel_id":"1"}`), 200, `"channel_id":1`)
	want(t, call(t, "GET", base+"/message?channel_id="+ch+"&limit=2", ""), 200, `"message_text":"m3"`, `"message_text":"m4"`)
	page := call(t, "GET", base+"/message?channel_id="+ch+"&limit=2&before="+ids[3], "")
	want(t, page, 200, `"message_text":"m1"`, `"message_text":"m2"`)
	if strings.Contains(page.body, `"m3"`) || strings.Contains(page.body, `"m0"`) {
		t.Fatalf("page %s", page.body)
	}
	want(t, call(t, "GET", base+"/message/"+ids[0], ""), 200, `"message_text":"m0"`, `"time":`)
	want(t, call(t, "GET", base+"/message?id="+ids[0], ""), 200, `{"id":`+ids[0])
	want(t, call(t, "GET", base+"/message?user_id="+strconv.FormatInt(bob, 10), ""), 200, `"message_text":"hi"`)
	// Deleting a channel deletes its messages.
	want(t, call(t, "DELETE", base+"/channel/"+ch+"?auth="+tok, ""), 200, `"deleted":true`)
	want(t, call(t, "GET", base+"/message?channel_id="+ch, ""), 200, `[]`)
}

func field2(t *testing.T, r resp) float64 { return field[float64](t, r, "id") }

func TestBadInput(t *testing.T) {
	n := start(t, func(c *config.Config) { chat.Settings(*c).MaxMessageLength = 10 })
	base := n.URL + "/chat"
	_, tok := login(t, base, "alice")
	huge := `{"username":"` + strings.Repeat("a", 200<<10) + `","password":"x"}`
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"login unknown user", "POST", "/auth", `{"username":"nobody","password":"secret1"}`, 200, `{"error":"Invalid details."}`},
		{"login wrong password", "POST", "/auth", `{"username":"alice","password":"secret2"}`, 200, `{"error":"Invalid details."}`},
		{"login password not a string", "POST", "/auth", `{"username":"alice","password":5}`, 400, "must be strings"},
		{"login not json", "POST", "/auth", `{`, 400, "JSON object"},
		{"login huge body", "POST", "/auth", huge, 413, "100 kB"},
		{"bad username", "POST", "/user", `{"username":"_x","password":"secret1"}`, 200, `{"error":"Invalid username."}`},
		{"username too long", "POST", "/user", `{"username":"a` + strings.Repeat("b", 64) + `","password":"secret1"}`, 200, `{"error":"Invalid username."}`},
		{"username not a string", "POST", "/user", `{"username":7,"password":"secret1"}`, 200, `{"error":"Invalid username."}`},
		{"short password", "POST", "/user", `{"username":"carol","password":"123"}`, 400, "password must be 6"},
		{"taken", "POST", "/user", `{"username":"alice","password":"secret1"}`, 409, "username taken"},
		{"message without auth", "POST", "/message", `{"message_text":"x","channel_id":1}`, 200, `{"error":"Please pass an auth token."}`},
		{"message bad token", "POST", "/message?auth=deadbeef", `{"message_text":"x","channel_id":1}`, 200, `{"error":"Please pass an auth token."}`},
		{"message empty", "POST", "/message?auth=" + tok, `{"message_text":"  ","channel_id":1}`, 400, "non-empty string"},
		{"message not a string", "POST", "/message?auth=" + tok, `{"message_text":{"a":1},"channel_id":1}`, 400, "non-empty string"},
		{"message too long", "POST", "/message?auth=" + tok, `{"message_text":"12345678901","channel_id":1}`, 413, "longer than 10"},
		{"message no channel", "POST", "/message?auth=" + tok, `{"message_text":"x"}`, 400, "channel_id must be an integer"},
		{"message bad channel type", "POST", "/message?auth=" + tok, `{"message_text":"x","channel_id":[1]}`, 400, "channel_id must be an integer"},
		{"message unknown channel", "POST", "/message?auth=" + tok, `{"message_text":"x","channel_id":999}`, 404, "no such channel"},
		{"unknown user", "GET", "/user/999", "", 404, "no such user"},
		{"unknown user by query", "GET", "/user?id=999", "", 404, "no such user"},
		{"bad user id", "GET", "/user/abc", "", 400, "id must be an integer"},
		{"unknown channel", "GET", "/channel/999", "", 404, "no such channel"},
		{"unknown message", "GET", "/message/999", "", 404, "no such message"},
		{"bad filter", "GET", "/message?channel_id=x", "", 400, "channel_id must be an integer"},
		{"bad limit", "GET", "/message?limit=0", "", 400, "limit must be positive"},
		{"channel without auth", "POST", "/channel", `{"title":"t"}`, 401, "Please pass an auth token."},
		{"channel empty title", "POST", "/channel?auth=" + tok, `{"title":""}`, 400, "title must be 1 to 64"},
		{"channel title type", "POST", "/channel?auth=" + tok, `{"title":1}`, 400, "title must be a string"},
		{"put unknown channel", "PUT", "/channel/999?auth=" + tok, `{"title":"x"}`, 404, "no such channel"},
		{"logout unknown", "DELETE", "/auth?auth=nope", "", 401, "Please pass an auth token."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want(t, call(t, tc.method, base+tc.path, tc.body), tc.status, tc.msg)
		})
	}
}

// TestTokens: tokens are stored hashed, expire, and logout revokes them; a keenchat
// database's SHA-256 password works once and is replaced by argon2id.
func TestTokensAndLegacyPasswords(t *testing.T) {
	n := start(t, nil)
	base := n.URL + "/chat"
	_, tok := login(t, base, "alice")
	var stored string
	if err := n.Store.Read().QueryRow(`SELECT token_hash FROM chat_token`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored == tok || len(stored) != 64 {
		t.Fatalf("token stored as %q", stored)
	}
	if _, err := n.Store.Write().Exec(`UPDATE chat_token SET expires_at = 1`); err != nil {
		t.Fatal(err)
	}
	want(t, call(t, "POST", base+"/message?auth="+tok, `{"message_text":"x","channel_id":1}`), 200, `{"error":"Please pass an auth token."}`)
	_, tok = login2(t, base, "alice", "secret1")
	want(t, call(t, "DELETE", base+"/auth?auth="+tok, ""), 200, `"success":true`)
	want(t, call(t, "POST", base+"/message?auth="+tok, `{"message_text":"x","channel_id":1}`), 200, `{"error":"Please pass an auth token."}`)

	// keenchat's hash of "secret1" (spec B3).
	if _, err := n.Store.Write().Exec(`INSERT INTO chat_user (username, password) VALUES ('old', '5b11618c2e44027877d0cd0921ed166b9f176f50587fc91e7534dd2946db77d6')`); err != nil {
		t.Fatal(err)
	}
	want(t, call(t, "POST", base+"/auth", `{"username":"old","password":"secret2"}`), 200, `{"error":"Invalid details."}`)
	login2(t, base, "old", "secret1")
	if err := n.Store.Read().QueryRow(`SELECT password FROM chat_user WHERE username = 'old'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$") {
		t.Fatalf("legacy hash not upgraded: %s", stored)
	}
	login2(t, base, "old", "secret1")
}

func login2(t *testing.T, base, name, password string) (int64, string) {
	t.Helper()
	r := call(t, "POST", base+"/auth", `{"username":"`+name+`","password":"`+password+`"}`)
	want(t, r, 200, `"token_value":"`)
	return int64(field[float64](t, r, "user_id")), field[string](t, r, "token_value")
}

func TestRateLimits(t *testing.T) {
	n := start(t, func(c *config.Config) { chat.Settings(*c).LoginRate = 0.001; chat.Settings(*c).PostRate = 0.001 })
	base := n.URL + "/chat"
	_, tok := login(t, base, "alice")
	limited := 0
	for range 12 {
		if call(t, "POST", base+"/auth", `{"username":"alice","password":"nope"}`).status == 429 {
			limited++
		}
	}
	posted := 0
	for range 12 {
		if call(t, "POST", base+"/message?auth="+tok, `{"message_text":"x","channel_id":1}`).status == 200 {
			posted++
		}
	}
	// Bursts of 10: the sign-up and login took 2 of the first budget.
	if limited != 4 || posted != 10 {
		t.Fatalf("%d logins limited (want 4), %d posts passed (want 10)", limited, posted)
	}
}

func TestHostileFramesAndSeparateListener(t *testing.T) {
	extra := nodetest.FreeAddr(t)
	n := start(t, func(c *config.Config) { chat.Settings(*c).SocketIOAddr = extra })
	base := n.URL + "/chat"
	_, tok := login(t, base, "alice")

	// keenchat's own port: /socket.io/ on a listener of its own.
	e := siotest.Dial(t, "http://"+extra+"/socket.io/")
	for _, frame := range []string{`42`, `42[`, `42["change channel"]`, `42["change channel",null]`, `42["start typing",5]`,
		`42["identify"]`, `42[1,2]`, `4{}`, `42["change channel",{"id":"1e400"}]`, `9`, `42["` + strings.Repeat("x", 50000) + `"]`} {
		// The server may cut the connection at a malformed packet: later writes then fail,
		// which is the point, not an error.
		if e.Write(frame) != nil {
			break
		}
	}
	// After all that the server still answers this socket (or it was cut off for a bad
	// packet, and a new one works): either way the process lives.
	e = siotest.Dial(t, "http://"+extra+"/socket.io/")
	e.Send(`42["identify","` + tok + `"]`)
	if got := e.Read(); got != `42["identified"]` {
		t.Fatalf("identify answered %q", got)
	}
	e.Send(`42["change channel",{"id":1}]`)
	if got := e.Read(); !strings.HasPrefix(got, `42["channel movement",{"channel_id":1,"users":[1]}`) {
		t.Fatalf("movement %q", got)
	}
	// The main port's socket.io sees the same rooms.
	m := siotest.Dial(t, base+"/socket.io/")
	m.Send(`42["identify","` + tok + `"]`)
	if got := m.Read(); got != `42["identified"]` {
		t.Fatalf("identify answered %q", got)
	}
	r := call(t, "POST", base+"/message?auth="+tok, `{"message_text":"both ports","channel_id":1}`)
	want(t, r, 200)
	for _, c := range []*siotest.Client{e, m} {
		if got := c.Read(); !strings.Contains(got, `"post message"`) || !strings.Contains(got, "both ports") {
			t.Fatalf("got %q", got)
		}
	}
	want(t, call(t, "GET", "http://"+extra+"/chat/channel", ""), 404)
}

// TestUnpagedMessageList: keenchat's Android client loads GET /message unfiltered and filters
// it itself, so a request without limit gets every message (streamed), however small the page
// size; limit pages as before, and unpaged_messages caps the unpaged list when set.
func TestUnpagedMessageList(t *testing.T) {
	for _, tc := range []struct {
		name            string
		unpaged         int
		query           string
		wantFirst, want int // index of the oldest message listed, and how many
	}{
		{"no limit: every message, oldest first", 0, "", 0, 7},
		{"no limit, filtered", 0, "?channel_id=1", 0, 7},
		{"limit: capped at max_page_size", 0, "?limit=100", 4, 3},
		{"unpaged_messages caps the unpaged list to the newest", 4, "", 3, 4},
		{"nothing matches", 0, "?channel_id=2", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := start(t, func(c *config.Config) {
				chat.Settings(*c).MaxPageSize = 3
				chat.Settings(*c).UnpagedMessages = tc.unpaged
				chat.Settings(*c).PostRate = 0
			})
			base := n.URL + "/chat"
			_, tok := login(t, base, "alice")
			for i := range 7 {
				want(t, call(t, "POST", base+"/message?auth="+tok, `{"message_text":"m`+strconv.Itoa(i)+`","channel_id":1}`), 200)
			}
			r := call(t, "GET", base+"/message"+tc.query, "")
			want(t, r, 200)
			var list []struct {
				Text string `json:"message_text"`
			}
			if err := json.Unmarshal([]byte(r.body), &list); err != nil {
				t.Fatalf("not a JSON array: %v: %s", err, r.body)
			}
			if len(list) != tc.want {
				t.Fatalf("%d messages, want %d: %s", len(list), tc.want, r.body)
			}
			for i, m := range list {
				if w := "m" + strconv.Itoa(tc.wantFirst+i); m.Text != w {
					t.Fatalf("message %d is %q, want %q", i, m.Text, w)
				}
			}
		})
	}
}
