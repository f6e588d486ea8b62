package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/apps/console"
	"github.com/switchboard/switchboard/internal/apps/streams"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node/nodetest"
	"github.com/switchboard/switchboard/internal/transport/sio/siotest"
)

// snapshot reads an app page's feed into into until done holds (nil: the first snapshot),
// snapshot after snapshot (one every 2 s), within guard.
func snapshot(t *testing.T, c *http.Client, base, app string, into any, done ...func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/console/api/app/"+app+"/feed", nil)
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("%s feed: %d", app, r.StatusCode)
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for {
		ev := nextEvent(t, sc)
		if ev.name != "snapshot" {
			t.Fatalf("%s feed: %s %s", app, ev.name, ev.data)
		}
		if err := json.Unmarshal([]byte(ev.data), into); err != nil {
			t.Fatalf("%s snapshot %s: %v", app, ev.data, err)
		}
		if len(done) == 0 || done[0]() {
			return
		}
	}
}

// TestAppPages: every app has a page whose feed shows its state, and the actions work: chat
// disconnects a user on every socket and revokes their sign-ins, streams ends a stream.
func TestAppPages(t *testing.T) {
	n := nodetest.Start(t, nodetest.Config(t, func(c *config.Config) {
		console.Settings(*c).Password = "s3cret"
		streams.Settings(*c).AnonymousStreams = true
	}))
	c := client(t)
	if r := do(t, c, "POST", n.URL+"/console/api/login", `{"password":"s3cret"}`); r.status != 200 {
		t.Fatalf("sign-in: %d", r.status)
	}
	if r := do(t, c, "GET", n.URL+"/console/api/apps", ""); strings.Join(toStrings(r.body["apps"]), ",") != "chat,counter,signal,streams" {
		t.Fatalf("apps %v", r.body)
	}

	// Chat: a user in a channel, then disconnected.
	pub := &http.Client{Timeout: guard}
	do(t, pub, "POST", n.URL+"/chat/user", `{"username":"ann","password":"secret1"}`)
	auth := do(t, pub, "POST", n.URL+"/chat/auth", `{"username":"ann","password":"secret1"}`)
	tok, _ := auth.body["token_value"].(string)
	ch := do(t, pub, "POST", n.URL+"/chat/channel?auth="+tok, `{"title":"lobby","description":"hi"}`)
	if tok == "" || ch.status != 200 {
		t.Fatalf("chat setup: %v %v", auth.body, ch.body)
	}
	sock := siotest.Dial(t, n.URL+"/chat/socket.io/")
	sock.Send(`42["identify","` + tok + `"]`)
	if got := sock.Read(); !strings.Contains(got, "identified") {
		t.Fatalf("identify: %q", got)
	}
	sock.Send(`42["change channel",{"id":` + jsonNumber(ch.body["id"]) + `}]`)
	var chat struct {
		Users    int `json:"users"`
		Channels []struct {
			Title  string   `json:"title"`
			Online []string `json:"online"`
		} `json:"channels"`
	}
	lobby := func() []string {
		for _, c := range chat.Channels {
			if c.Title == "lobby" {
				return c.Online
			}
		}
		return nil
	}
	// The channel join is asynchronous: a later snapshot shows it.
	snapshot(t, c, n.URL, "chat", &chat, func() bool { return len(lobby()) == 1 })
	if chat.Users != 1 || strings.Join(lobby(), ",") != "ann" {
		t.Fatalf("chat snapshot %+v: want ann in lobby", chat)
	}
	for _, tc := range []struct {
		body   string
		status int
	}{{`{"username":"nobody"}`, 404}, {`{}`, 400}, {`{"username":"ann"}`, 200}} {
		if r := do(t, c, "POST", n.URL+"/console/api/app/chat/disconnect", tc.body); r.status != tc.status {
			t.Fatalf("disconnect %s: %d %v", tc.body, r.status, r.body)
		}
	}
	for {
		got := sock.Read()
		if got == "" || strings.HasPrefix(got, "41") {
			break // the server disconnected the socket
		}
	}
	again := siotest.Dial(t, n.URL+"/chat/socket.io/")
	again.Send(`42["identify","` + tok + `"]`)
	if got := again.Read(); !strings.Contains(got, "identity failure") {
		t.Fatalf("the revoked token identified: %q", got)
	}

	// Counter: the counts.
	var counter struct {
		Stats  map[string]int64 `json:"stats"`
		Hours  []any            `json:"hours_today"`
		Online []any            `json:"online"`
	}
	snapshot(t, c, n.URL, "counter", &counter)
	if _, ok := counter.Stats["click_count_total"]; !ok || len(counter.Hours) == 0 {
		t.Fatalf("counter snapshot %+v", counter)
	}

	// Signaling: nothing live.
	var signal struct {
		Tags   []any          `json:"tags"`
		Totals map[string]any `json:"totals"`
	}
	snapshot(t, c, n.URL, "signal", &signal)
	if signal.Tags == nil || len(signal.Tags) != 0 {
		t.Fatalf("signal snapshot %+v", signal)
	}

	// Streams: an anonymous stream, listed, then ended from the console.
	created := do(t, pub, "POST", n.URL+"/v0/streams", `{}`)
	id, _ := created.body["stream"].(map[string]any)["streamID"].(string)
	if id == "" {
		t.Fatalf("create stream: %d %v", created.status, created.body)
	}
	var st struct {
		Streams []struct {
			StreamID string `json:"streamID"`
		} `json:"streams"`
	}
	snapshot(t, c, n.URL, "streams", &st)
	if len(st.Streams) != 1 || st.Streams[0].StreamID != id {
		t.Fatalf("streams snapshot %+v", st)
	}
	if r := do(t, c, "POST", n.URL+"/console/api/app/streams/end", `{"stream":"`+id+`"}`); r.status != 200 {
		t.Fatalf("end: %d %v", r.status, r.body)
	}
	if r := do(t, pub, "GET", n.URL+"/v0/streams", ""); len(r.body["streams"].([]any)) != 0 {
		t.Fatalf("the ended stream is still listed: %v", r.body)
	}
	if r := do(t, c, "POST", n.URL+"/console/api/app/streams/nope", `{}`); r.status != 404 {
		t.Fatalf("an unknown action: %d", r.status)
	}
	if r := do(t, pub, "POST", n.URL+"/console/api/app/streams/end", `{"stream":"`+id+`"}`); r.status != 401 {
		t.Fatalf("an action signed out: %d", r.status)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func jsonNumber(v any) string { b, _ := json.Marshal(v); return string(b) }
