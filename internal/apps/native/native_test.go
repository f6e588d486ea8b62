package native_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard/switchboard/internal/apps/native"
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/config"
)

func TestConnectAndPubSub(t *testing.T) {
	n := startNode(t, nil)
	a := connect(t, n, "")
	b := connect(t, n, "")
	for _, c := range []*wsClient{a, b} {
		sub := decode[subResult](t, mustOK(t, c.call("subscribe", map[string]any{"channel": "room"})).Result)
		if sub.Channel != "room" || sub.Epoch == "" || !sub.Recoverable {
			t.Fatalf("subscribe result %+v", sub)
		}
	}
	// Every subscriber sees its own join; a also sees b's.
	for _, want := range []*wsClient{a, a, b} {
		if p := want.push(); p.Push != "join" || p.Channel != "room" {
			t.Fatalf("want join, got %+v", p)
		}
	}
	res := mustOK(t, a.call("publish", map[string]any{"channel": "room", "data": map[string]any{"text": "héllo"}}))
	if off := decode[struct{ Offset uint64 }](t, res.Result).Offset; off != 1 {
		t.Fatalf("first publication offset %d, want 1", off)
	}
	for name, c := range map[string]*wsClient{"publisher": a, "other": b} {
		p := c.push()
		if p.Push != "pub" || p.Channel != "room" || p.Offset != 1 || string(p.Data) != `{"text":"héllo"}` {
			t.Fatalf("%s got %+v data %s", name, p, p.Data)
		}
		if !strings.Contains(string(p.Info), `"client"`) {
			t.Fatalf("%s: publication without publisher info: %s", name, p.Info)
		}
	}
}

func TestOrderingUnderConcurrentPublishers(t *testing.T) {
	n := startNode(t, nil)
	sub := connect(t, n, "")
	mustOK(t, sub.call("subscribe", map[string]any{"channel": "small:order"}))
	const publishers, each = 4, 250
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				body := fmt.Sprintf(`{"channel":"small:order","data":{"p":%d,"i":%d}}`, p, i)
				if code, resp := api(t, n, "POST", "/v1/api/publish", testAPIKey, body); code != 200 {
					t.Errorf("publish: %d %s", code, resp)
					return
				}
			}
		}(p)
	}
	wg.Wait()
	last := map[int]int{}
	for want := uint64(1); want <= publishers*each; want++ {
		f := sub.push()
		if f.Offset != want {
			t.Fatalf("offset %d, want %d: offsets must arrive in order without gaps", f.Offset, want)
		}
		d := decode[struct{ P, I int }](t, f.Data)
		if prev, ok := last[d.P]; ok && d.I != prev+1 {
			t.Fatalf("publisher %d: message %d after %d", d.P, d.I, prev)
		}
		last[d.P] = d.I
	}
}

func TestRecovery(t *testing.T) {
	n := startNode(t, nil)
	// Namespace "small" keeps 3 publications.
	tests := []struct {
		name          string
		published     int    // after the first subscription
		since         uint64 // the offset the client asks to recover from
		epoch         string // "" = the stream's own epoch
		wantRecovered bool
		wantData      []string
	}{
		{"nothing missed", 0, 0, "", true, nil},
		{"two missed, in history", 2, 0, "", true, []string{"0", "1"}},
		{"exactly the history missed", 3, 0, "", true, []string{"0", "1", "2"}},
		{"more missed than history holds", 4, 0, "", false, nil},
		{"tail missed after trimming", 5, 3, "", true, []string{"3", "4"}},
		{"up to date after trimming", 5, 5, "", true, nil},
		{"wrong epoch", 1, 0, "0badc0de", false, nil},
		{"offset from the future", 1, 9, "", false, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := fmt.Sprintf("small:r%d", i)
			c := connect(t, n, "")
			first := decode[subResult](t, mustOK(t, c.call("subscribe", map[string]any{"channel": ch})).Result)
			c.conn.Close()
			c.waitClosed()
			publish := func(i int) {
				t.Helper()
				if code, body := api(t, n, "POST", "/v1/api/publish", testAPIKey, fmt.Sprintf(`{"channel":%q,"data":"%d"}`, ch, i)); code != 200 {
					t.Fatalf("publish %d: %s", code, body)
				}
			}
			for i := 0; i < tt.published; i++ {
				publish(i)
			}
			epoch := tt.epoch
			if epoch == "" {
				epoch = first.Epoch
			}
			c = connect(t, n, "")
			since := map[string]any{"offset": tt.since, "epoch": epoch}
			res := decode[subResult](t, mustOK(t, c.call("subscribe", map[string]any{"channel": ch, "since": since})).Result)
			if res.Recovered == nil || *res.Recovered != tt.wantRecovered {
				t.Fatalf("recovered = %v, want %v (%+v)", res.Recovered, tt.wantRecovered, res)
			}
			var got []string
			for _, p := range res.Publications {
				var s string
				json.Unmarshal(p.Data, &s)
				got = append(got, s)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantData) {
				t.Fatalf("recovered %v, want %v", got, tt.wantData)
			}
			if res.Offset != uint64(tt.published) || res.Epoch != first.Epoch {
				t.Fatalf("position %d/%s, want %d/%s", res.Offset, res.Epoch, tt.published, first.Epoch)
			}
			// Live publications follow the recovered ones without a gap.
			publish(99)
			if p := c.push(); p.Push != "pub" || p.Offset != uint64(tt.published+1) {
				t.Fatalf("live publication after recovery: %+v, want offset %d", p, tt.published+1)
			}
		})
	}
}

func TestPresenceJoinLeave(t *testing.T) {
	n := startNode(t, nil)
	alice, _ := auth.Sign(testSecret, "alice", time.Hour, nil, json.RawMessage(`{"name":"Alice"}`))
	a := connect(t, n, alice)
	b := connect(t, n, "")
	mustOK(t, a.call("subscribe", map[string]any{"channel": "lobby"}))
	mustOK(t, b.call("subscribe", map[string]any{"channel": "lobby"}))
	if p := a.push(); p.Push != "join" {
		t.Fatalf("want join, got %+v", p)
	}
	pres := decode[struct {
		Presence map[string]struct {
			User string          `json:"user"`
			Info json.RawMessage `json:"info"`
		}
	}](t, mustOK(t, b.call("presence", map[string]any{"channel": "lobby"})).Result)
	users := 0
	for _, m := range pres.Presence {
		if m.User == "alice" {
			users++
			if string(m.Info) != `{"name":"Alice"}` {
				t.Fatalf("alice's info %s", m.Info)
			}
		}
	}
	if len(pres.Presence) != 2 || users != 1 {
		t.Fatalf("presence %+v", pres)
	}
	stats := decode[struct {
		Clients int `json:"num_clients"`
		Users   int `json:"num_users"`
	}](t, mustOK(t, b.call("presence_stats", map[string]any{"channel": "lobby"})).Result)
	if stats.Clients != 2 || stats.Users != 1 {
		t.Fatalf("stats %+v", stats)
	}
	mustOK(t, a.call("unsubscribe", map[string]any{"channel": "lobby"}))
	if p := b.push(); p.Push != "join" {
		t.Fatalf("b should see its own join first, got %+v", p)
	}
	if p := b.push(); p.Push != "leave" || !strings.Contains(string(p.Info), "alice") {
		t.Fatalf("want alice's leave, got %+v", p)
	}
	wantErr(t, a.call("unsubscribe", map[string]any{"channel": "lobby"}), 111)
	wantErr(t, b.call("presence", map[string]any{"channel": "nohist:x"}), 108)
}

func TestPresenceCap(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Limits.MaxPresence = 2 })
	var clients []*wsClient
	for i := 0; i < 3; i++ {
		c := connect(t, n, "")
		mustOK(t, c.call("subscribe", map[string]any{"channel": "capped"}))
		clients = append(clients, c)
	}
	st := decode[struct {
		Clients int `json:"num_clients"`
	}](t, mustOK(t, clients[0].call("presence_stats", map[string]any{"channel": "capped"})).Result)
	if st.Clients != 2 {
		t.Fatalf("presence lists %d members, cap is 2", st.Clients)
	}
	// The unlisted third subscriber still receives publications.
	api(t, n, "POST", "/v1/api/publish", testAPIKey, `{"channel":"capped","data":1}`)
	for {
		if p := clients[2].push(); p.Push == "pub" {
			break
		}
	}
}

func TestHistory(t *testing.T) {
	n := startNode(t, nil)
	for i := 0; i < 5; i++ {
		api(t, n, "POST", "/v1/api/publish", testAPIKey, fmt.Sprintf(`{"channel":"small:h","data":%d}`, i))
	}
	c := connect(t, n, "")
	h := decode[struct {
		Publications []struct{ Offset uint64 } `json:"publications"`
		Offset       uint64                    `json:"offset"`
	}](t, mustOK(t, c.call("history", map[string]any{"channel": "small:h"})).Result)
	if h.Offset != 5 || len(h.Publications) != 3 || h.Publications[0].Offset != 3 || h.Publications[2].Offset != 5 {
		t.Fatalf("history keeps the newest 3: %+v", h)
	}
	code, body := api(t, n, "POST", "/v1/api/history", testAPIKey, `{"channel":"small:h","limit":1}`)
	if code != 200 || !strings.Contains(body, `"offset":5,"data":4`) || strings.Contains(body, `"data":3`) {
		t.Fatalf("history limit 1: %d %s", code, body)
	}
	wantErr(t, c.call("history", map[string]any{"channel": "small:h", "limit": -1}), 107)
}

func TestPermissionsAndTokens(t *testing.T) {
	n := startNode(t, nil)
	okToken, _ := auth.Sign(testSecret, "u1", time.Hour, []string{"private:u1"}, nil)
	expired, _ := auth.Sign(testSecret, "u1", -time.Hour, nil, nil)
	forged, _ := auth.Sign("another-secret", "u1", time.Hour, nil, nil)

	anon := connect(t, n, "")
	user := connect(t, n, okToken)
	tests := []struct {
		name   string
		c      *wsClient
		method string
		params map[string]any
		code   int // 0 = success
	}{
		{"anonymous may subscribe to the default namespace", anon, "subscribe", map[string]any{"channel": "pub"}, 0},
		{"anonymous may not subscribe to a users namespace", anon, "subscribe", map[string]any{"channel": "users:x"}, 103},
		{"a user may subscribe to a users namespace", user, "subscribe", map[string]any{"channel": "users:x"}, 0},
		{"a token channel listed in the token", user, "subscribe", map[string]any{"channel": "private:u1"}, 0},
		{"a token channel not listed", user, "subscribe", map[string]any{"channel": "private:u2"}, 103},
		{"unknown namespace", anon, "subscribe", map[string]any{"channel": "nope:x"}, 102},
		{"bad channel name", anon, "subscribe", map[string]any{"channel": "a b"}, 107},
		{"empty channel name", anon, "subscribe", map[string]any{"channel": ""}, 107},
		{"too long channel name", anon, "subscribe", map[string]any{"channel": strings.Repeat("x", 256)}, 107},
		{"subscribe twice", anon, "subscribe", map[string]any{"channel": "pub"}, 105},
		{"publish without subscribing where subscribers publish", anon, "publish", map[string]any{"channel": "other", "data": 1}, 103},
		{"publish where subscribed", anon, "publish", map[string]any{"channel": "pub", "data": 1}, 0},
		{"publish to a server-only namespace", user, "publish", map[string]any{"channel": "private:u1", "data": 1}, 103},
		{"publish without data", anon, "publish", map[string]any{"channel": "pub"}, 107},
		{"anonymous publish where users publish", anon, "publish", map[string]any{"channel": "users:x", "data": 1}, 103},
		{"unknown method", anon, "frobnicate", map[string]any{}, 104},
		{"params of the wrong type", anon, "subscribe", map[string]any{"channel": 5}, 107},
		{"connect twice", anon, "connect", map[string]any{}, 107},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.c.call(tt.method, tt.params)
			if tt.code == 0 {
				mustOK(t, r)
			} else {
				wantErr(t, r, tt.code)
			}
		})
	}

	for _, tt := range []struct {
		name      string
		token     string
		code      int
		reconnect bool
	}{
		{"expired token", expired, 3005, true},
		{"forged token", forged, 3500, false},
		{"garbage token", "not-a-jwt", 3500, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, n, nil)
			c.writeRaw([]byte(`{"id":1,"method":"connect","params":{"token":"` + tt.token + `"}}`))
			p := c.next()
			if p.Push != "disconnect" || p.Code != tt.code || p.Reconnect != tt.reconnect {
				t.Fatalf("want disconnect %d, got %+v", tt.code, p)
			}
			if ce := c.waitClosed(); ce == nil || ce.Code != tt.code {
				t.Fatalf("close frame %v, want code %d", ce, tt.code)
			}
		})
	}
}

func TestAnonymousRefused(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.AllowAnonymous = false })
	c := dial(t, n, nil)
	c.writeRaw([]byte(`{"id":1,"method":"connect"}`))
	if p := c.next(); p.Push != "disconnect" || p.Code != 3500 {
		t.Fatalf("want disconnect 3500, got %+v", p)
	}
	if _, code, _ := openSSE(t, n, "channel=x", ""); code != 401 {
		t.Fatalf("anonymous SSE: status %d, want 401", code)
	}
}

func TestLimits(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Limits.MaxMessageBytes = 1024
		c.Limits.MaxChannelsPerConn = 2
		c.Limits.PublishRate = 1
		c.Limits.PublishBurst = 3
		c.Limits.MaxConnsPerIP = 4
		c.Limits.MaxCommandErrors = 3
	})
	t.Run("channels per connection", func(t *testing.T) {
		c := connect(t, n, "")
		mustOK(t, c.call("subscribe", map[string]any{"channel": "nohist:1"}))
		mustOK(t, c.call("subscribe", map[string]any{"channel": "nohist:2"}))
		wantErr(t, c.call("subscribe", map[string]any{"channel": "nohist:3"}), 106)
		c.conn.Close()
		c.waitClosed()
	})
	t.Run("publish rate", func(t *testing.T) {
		c := connect(t, n, "")
		for i := 0; i < 3; i++ {
			mustOK(t, c.call("publish", map[string]any{"channel": "nohist:r", "data": i}))
		}
		wantErr(t, c.call("publish", map[string]any{"channel": "nohist:r", "data": 4}), 110)
		c.conn.Close()
		c.waitClosed()
	})
	t.Run("message size", func(t *testing.T) {
		c := connect(t, n, "")
		big := `{"id":9,"method":"publish","params":{"channel":"nohist:r","data":"` + strings.Repeat("x", 2000) + `"}}`
		c.writeRaw([]byte(big))
		if ce := c.waitClosed(); ce == nil || ce.Code != websocket.CloseMessageTooBig {
			t.Fatalf("oversized frame: close %v, want 1009", ce)
		}
	})
	t.Run("too many bad commands", func(t *testing.T) {
		c := connect(t, n, "")
		for i := 0; i < 4; i++ {
			c.writeRaw([]byte(`{not json`))
		}
		for {
			f := c.next()
			if f.Push == "disconnect" {
				if f.Code != 3509 {
					t.Fatalf("disconnect %d, want 3509", f.Code)
				}
				break
			}
			if f.Error == nil || f.Error.Code != 107 {
				t.Fatalf("bad JSON answered with %+v", f)
			}
		}
		c.waitClosed()
	})
	t.Run("first command must be connect", func(t *testing.T) {
		c := dial(t, n, nil)
		c.writeRaw([]byte(`{"id":1,"method":"subscribe","params":{"channel":"x"}}`))
		if p := c.next(); p.Push != "disconnect" || p.Code != 3501 {
			t.Fatalf("got %+v", p)
		}
		c.waitClosed()
	})
	t.Run("connections per IP", func(t *testing.T) {
		var open []*wsClient
		for i := 0; i < 4; i++ {
			open = append(open, dial(t, n, nil))
		}
		_, err := dialErr(t, n, nil)
		if err == nil || !strings.Contains(err.Error(), "429") {
			t.Fatalf("fifth connection from one IP: %v, want 429", err)
		}
		for _, c := range open {
			c.conn.Close()
			c.waitClosed()
		}
	})
	t.Run("HTTP publish body size", func(t *testing.T) {
		code, body := api(t, n, "POST", "/v1/api/publish", testAPIKey, `{"channel":"x","data":"`+strings.Repeat("y", 2000)+`"}`)
		if code != 413 || !strings.Contains(body, `"error"`) {
			t.Fatalf("got %d %s", code, body)
		}
	})
}

// TestNothingActedOnAfterDisconnect: commands a client sends after the server decided to close
// it are discarded, even though the server reads on until the client's close frame.
func TestNothingActedOnAfterDisconnect(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Limits.MaxCommandErrors = 1 })
	watcher := connect(t, n, "")
	mustOK(t, watcher.call("subscribe", map[string]any{"channel": "nohist:after"}))
	bad := connect(t, n, "")
	clients := n.Hub.NumClients()
	// Two bad frames close the connection; the publish behind them must not run.
	bad.writeRaw([]byte(`{bad`))
	bad.writeRaw([]byte(`{bad`))
	bad.writeRaw([]byte(`{"id":7,"method":"publish","params":{"channel":"nohist:after","data":"too late"}}`))
	bad.waitClosed()
	// Once the server has released the client, it has read every frame sent before the close.
	for deadline := time.Now().Add(guard); n.Hub.NumClients() != clients-1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the closed client was never released")
		}
	}
	api(t, n, "POST", "/v1/api/publish", testAPIKey, `{"channel":"nohist:after","data":"marker"}`)
	// Without history a publication is unsequenced: offset 0.
	if p := watcher.push(); string(p.Data) != `"marker"` || p.Offset != 0 {
		t.Fatalf("first publication seen: %s at offset %d; the command after the disconnect ran", p.Data, p.Offset)
	}
}

func TestConnectTimeout(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Limits.ConnectTimeout = config.Duration(50 * time.Millisecond) })
	c := dial(t, n, nil)
	if p := c.next(); p.Push != "disconnect" || p.Code != 3502 {
		t.Fatalf("silent client: %+v, want disconnect 3502", p)
	}
	if ce := c.waitClosed(); ce == nil || ce.Code != 3502 {
		t.Fatalf("close %v", ce)
	}
}

func TestPingPong(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Limits.PingInterval = config.Duration(20 * time.Millisecond)
		c.Limits.PongTimeout = config.Duration(200 * time.Millisecond)
	})
	// A client that answers pings (the helper does) stays connected past many ping periods…
	alive := connect(t, n, "")
	mustOK(t, alive.call("subscribe", map[string]any{"channel": "pp"}))
	if p := alive.push(); p.Push != "join" {
		t.Fatalf("want own join, got %+v", p)
	}
	// …one that sends nothing at all is cut off when the read deadline passes.
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(n.URL, "http")+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"method":"connect"}`))
	conn.SetReadDeadline(time.Now().Add(guard)) // our own bound: if it fires, the server never cut us off
	var pings int
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept a client that never answered its pings")
			}
			break
		}
		pings += strings.Count(string(data), `"push":"ping"`)
	}
	if pings == 0 {
		t.Fatal("the server sent no ping before closing a silent client")
	}
	api(t, n, "POST", "/v1/api/publish", testAPIKey, `{"channel":"pp","data":"still here"}`)
	if p := alive.push(); p.Push != "pub" {
		t.Fatalf("the answering client lost its subscription: %+v", p)
	}
}

func TestSlowConsumerIsDisconnectedWithoutStallingOthers(t *testing.T) {
	n := startNode(t, func(c *config.Config) {
		c.Limits.QueueBytes = 1 << 20
		c.Limits.MaxMessageBytes = 16 << 10
	})
	slowBefore := metric(t, n, `switchboard_disconnects_total{reason="slow"}`)
	fast := connect(t, n, "")
	mustOK(t, fast.call("subscribe", map[string]any{"channel": "small:flood"}))

	// The slow client subscribes, then stops reading: its socket buffers fill, then its queue.
	slowConn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(n.URL, "http")+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slowConn.Close()
	slowConn.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"method":"connect"}`+"\n"+`{"id":2,"method":"subscribe","params":{"channel":"small:flood"}}`))

	payload := `"` + strings.Repeat("z", 8000) + `"`
	// 32 MB in all: far beyond loopback socket buffers (a few MB) plus the 1 MiB queue. The
	// fast subscriber has the same 1 MiB (128 messages) of slack.
	const total = 4000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; i++ {
			if code, body := api(t, n, "POST", "/v1/api/publish", testAPIKey, `{"channel":"small:flood","data":`+payload+`}`); code != 200 {
				t.Errorf("publish %d: %d %s", i, code, body)
				return
			}
		}
	}()
	for i := 1; i <= total; i++ {
		p := fast.push()
		if p.Offset != uint64(i) {
			t.Fatalf("fast subscriber got offset %d, want %d", p.Offset, i)
		}
	}
	<-done
	// Now read what the slow client was sent: its stream ends. When the server could still
	// write its close frame it says 3008; when the socket's buffers were full it could not,
	// and the client only sees the connection end. Either way the server cut it off, and
	// the metric below says why.
	for {
		_, _, err := slowConn.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); ok && ce.Code != 3008 && ce.Code != websocket.CloseAbnormalClosure {
			t.Fatalf("slow client closed with %d %q, want 3008", ce.Code, ce.Text)
		}
		break
	}
	if got := metric(t, n, `switchboard_disconnects_total{reason="slow"}`); got != slowBefore+1 {
		t.Fatalf("slow disconnects counted %v, want %v", got, slowBefore+1)
	}
}

func TestSSE(t *testing.T) {
	n := startNode(t, nil)
	s, code, body := openSSE(t, n, "channel=feed", "")
	if code != 200 {
		t.Fatalf("open: %d %s", code, body)
	}
	hello := s.next()
	if hello.Event != "subscribed" || !strings.Contains(hello.Data, `"channel":"feed"`) {
		t.Fatalf("first event %+v", hello)
	}
	if j := s.next(); j.Event != "join" {
		t.Fatalf("want own join, got %+v", j)
	}
	for i := 0; i < 3; i++ {
		api(t, n, "POST", "/v1/api/publish", testAPIKey, fmt.Sprintf(`{"channel":"feed","data":{"n":%d,"s":"a\nb"}}`, i))
	}
	var lastID string
	for i := 0; i < 2; i++ {
		ev := s.next()
		if ev.Event != "pub" || !strings.Contains(ev.Data, fmt.Sprintf(`"n":%d`, i)) {
			t.Fatalf("event %d: %+v", i, ev)
		}
		lastID = ev.ID
	}
	s.resp.Body.Close()

	// Resume from the second publication: exactly the third follows.
	r, code, _ := openSSE(t, n, "channel=feed", lastID)
	if code != 200 {
		t.Fatalf("resume: %d", code)
	}
	hello = r.next()
	if !strings.Contains(hello.Data, `"recovered":true`) {
		t.Fatalf("resume hello %+v", hello)
	}
	ev := r.next()
	if ev.Event != "pub" || !strings.Contains(ev.Data, `"n":2`) || !strings.Contains(ev.Data, `"offset":3`) {
		t.Fatalf("recovered event %+v", ev)
	}

	for _, tt := range []struct {
		name, query, lastID string
		want                int
	}{
		{"no channel", "", "", 400},
		{"unknown namespace", "channel=nope:x", "", 404},
		{"token namespace without token", "channel=private:x", "", 403},
		{"bad token", "channel=feed&token=bad", "", 401},
		{"bad Last-Event-ID", "channel=feed", "garbage", 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, code, body := openSSE(t, n, tt.query, tt.lastID); code != tt.want || !strings.Contains(body, `"error"`) {
				t.Fatalf("status %d body %s, want %d with an error", code, body, tt.want)
			}
		})
	}
}

func TestServerAPI(t *testing.T) {
	n := startNode(t, nil)
	u, _ := auth.Sign(testSecret, "bob", time.Hour, nil, nil)
	bob := connect(t, n, u)
	mustOK(t, bob.call("subscribe", map[string]any{"channel": "users:bob"}))

	tests := []struct {
		name, method, path, key, body string
		want                          int
		contains                      string
	}{
		{"publish", "POST", "/v1/api/publish", testAPIKey, `{"channel":"news","data":{"x":1}}`, 200, `"offset":1`},
		{"publish without key", "POST", "/v1/api/publish", "", `{"channel":"news","data":1}`, 401, `"error"`},
		{"publish with wrong key", "POST", "/v1/api/publish", "nope", `{"channel":"news","data":1}`, 401, `"error"`},
		{"publish bad JSON", "POST", "/v1/api/publish", testAPIKey, `{"channel":`, 400, `not valid JSON`},
		{"publish empty body", "POST", "/v1/api/publish", testAPIKey, ``, 400, `empty`},
		{"publish unknown field", "POST", "/v1/api/publish", testAPIKey, `{"chanel":"x","data":1}`, 400, `unknown field`},
		{"publish wrong type", "POST", "/v1/api/publish", testAPIKey, `{"channel":5,"data":1}`, 400, `"error"`},
		{"publish no data", "POST", "/v1/api/publish", testAPIKey, `{"channel":"news"}`, 400, `data missing`},
		{"publish unknown namespace", "POST", "/v1/api/publish", testAPIKey, `{"channel":"zz:top","data":1}`, 404, `namespace`},
		{"publish to a server-only namespace", "POST", "/v1/api/publish", testAPIKey, `{"channel":"private:x","data":1}`, 200, `"offset":0,"epoch":""`},
		{"history", "POST", "/v1/api/history", testAPIKey, `{"channel":"news"}`, 200, `"data":{"x":1}`},
		{"presence", "POST", "/v1/api/presence", testAPIKey, `{"channel":"users:bob"}`, 200, `"user":"bob"`},
		{"presence stats", "POST", "/v1/api/presence_stats", testAPIKey, `{"channel":"users:bob"}`, 200, `"num_users":1`},
		{"presence off", "POST", "/v1/api/presence", testAPIKey, `{"channel":"nohist:x"}`, 409, `"error"`},
		{"channels", "GET", "/v1/api/channels", testAPIKey, ``, 200, `{"name":"users:bob","num_subscribers":1}`},
		{"disconnect needs a user", "POST", "/v1/api/disconnect", testAPIKey, `{}`, 400, `"error"`},
		{"wrong method", "GET", "/v1/api/publish", testAPIKey, ``, 405, ``},
		{"unknown route", "GET", "/v1/nothing", testAPIKey, ``, 404, `"error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := api(t, n, tt.method, tt.path, tt.key, tt.body)
			if code != tt.want || !strings.Contains(body, tt.contains) {
				t.Fatalf("%s %s: %d %s, want %d containing %q", tt.method, tt.path, code, body, tt.want, tt.contains)
			}
		})
	}
	t.Run("disconnect user", func(t *testing.T) {
		code, body := api(t, n, "POST", "/v1/api/disconnect", testAPIKey, `{"user":"bob"}`)
		if code != 200 || !strings.Contains(body, `"disconnected":1`) {
			t.Fatalf("%d %s", code, body)
		}
		for {
			if p := bob.push(); p.Push == "disconnect" {
				if p.Code != 3503 || p.Reconnect {
					t.Fatalf("disconnect push %+v", p)
				}
				break
			}
		}
		if ce := bob.waitClosed(); ce == nil || ce.Code != 3503 {
			t.Fatalf("close %v", ce)
		}
	})
	t.Run("API disabled without a key", func(t *testing.T) {
		m := startNode(t, func(c *config.Config) { c.APIKey = "" })
		if code, body := api(t, m, "POST", "/v1/api/publish", "", `{"channel":"a","data":1}`); code != 403 || !strings.Contains(body, "disabled") {
			t.Fatalf("%d %s", code, body)
		}
	})
}

func TestOpsEndpoints(t *testing.T) {
	n := startNode(t, nil)
	connect(t, n, "")
	for _, tt := range []struct{ path, contains string }{
		{"/healthz", `"status":"ok"`},
		{"/readyz", `"store":"ok"`},
		{"/metrics", `switchboard_connections{transport="ws"}`},
	} {
		code, body := api(t, n, "GET", tt.path, "", "")
		if code != 200 || !strings.Contains(body, tt.contains) {
			t.Fatalf("%s: %d, want 200 containing %q in\n%.2000s", tt.path, code, tt.contains, body)
		}
	}
	// The gauge is process-wide; connections of earlier tests may still be closing.
	if got := metric(t, n, `switchboard_connections{transport="ws"}`); got < 1 {
		t.Fatalf("ws connection gauge %v with one client open", got)
	}
	req, _ := http.NewRequest("OPTIONS", n.URL+"/v1/api/publish", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("CORS preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestDrainDelay: on SIGTERM the node first only turns /readyz to 503 and keeps serving (new
// connections, subscriptions, deliveries), so a load balancer can take it out of rotation;
// then it drains.
func TestDrainDelay(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.DrainDelay = config.Duration(time.Hour) })
	c := connect(t, n, "")
	mustOK(t, c.call("subscribe", map[string]any{"channel": "d"}))
	if code, _ := api(t, n, "GET", "/readyz", "", ""); code != 200 {
		t.Fatalf("readyz before the drain: %d", code)
	}
	n.Terminate()
	for deadline := time.Now().Add(guard); ; time.Sleep(10 * time.Millisecond) {
		if code, body := api(t, n, "GET", "/readyz", "", ""); code == 503 {
			if !strings.Contains(body, "draining") {
				t.Fatalf("readyz while draining: %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz never answered 503 after the drain began")
		}
	}
	// Still serving: a new client connects and subscribes, a publication reaches both.
	late := connect(t, n, "")
	mustOK(t, late.call("subscribe", map[string]any{"channel": "d"}))
	if code, body := api(t, n, "POST", "/v1/api/publish", testAPIKey, `{"channel":"d","data":"during the delay"}`); code != 200 {
		t.Fatalf("publish during the drain delay: %d %s", code, body)
	}
	for _, cl := range []*wsClient{c, late} {
		for p := cl.push(); p.Push != "pub" || string(p.Data) != `"during the delay"`; p = cl.push() {
		}
	}
	if err := n.stop(); err != nil { // skips the rest of the delay
		t.Fatalf("drain: %v", err)
	}
	for _, cl := range []*wsClient{c, late} {
		for p := cl.push(); p.Push != "disconnect"; p = cl.push() {
		}
	}
}

// TestInvalidUTF8: a text frame that is not UTF-8 closes the connection with 1007 (RFC 6455
// §8.1); binary frames are refused with 1003.
func TestInvalidUTF8(t *testing.T) {
	n := startNode(t, nil)
	for _, tc := range []struct {
		name string
		mt   int
		data []byte
		code int
	}{
		{"invalid UTF-8 in a text frame", websocket.TextMessage, []byte("{\"id\":1,\"method\":\"connect\",\"params\":{\"name\":\"\xff\xfe\"}}"), websocket.CloseInvalidFramePayloadData},
		{"a lone surrogate's bytes", websocket.TextMessage, []byte("\xed\xa0\x80"), websocket.CloseInvalidFramePayloadData},
		{"binary frame", websocket.BinaryMessage, []byte("{}"), websocket.CloseUnsupportedData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, n, nil)
			if err := c.conn.WriteMessage(tc.mt, tc.data); err != nil {
				t.Fatal(err)
			}
			if ce := c.waitClosed(); ce == nil || ce.Code != tc.code {
				t.Fatalf("close %v, want %d", ce, tc.code)
			}
		})
	}
	// Valid UTF-8 beyond ASCII is fine.
	c := connect(t, n, "")
	mustOK(t, c.call("subscribe", map[string]any{"channel": "utf8"}))
	mustOK(t, c.call("publish", map[string]any{"channel": "utf8", "data": "grüße 🎉"}))
	p := c.push()
	for p.Push == "join" {
		p = c.push()
	}
	if p.Push != "pub" || string(p.Data) != `"grüße 🎉"` {
		t.Fatalf("push %+v", p)
	}
}

func TestDrain(t *testing.T) {
	n := startNode(t, nil)
	c := connect(t, n, "")
	mustOK(t, c.call("subscribe", map[string]any{"channel": "d"}))
	s, _, _ := openSSE(t, n, "channel=d", "")
	s.next() // subscribed
	// The subscribe reply can reach the client before the server releases the subscription
	// to live delivery: see one publication arrive on both before the one that matters.
	api(t, n, "POST", "/v1/api/publish", testAPIKey, `{"channel":"d","data":"warm-up"}`)
	for p := c.push(); p.Push != "pub"; p = c.push() { // joins may come first
	}
	for ev := s.next(); ev.Event != "pub"; ev = s.next() {
	}
	// A publication queued just before shutdown must still be delivered: drain flushes.
	api(t, n, "POST", "/v1/api/publish", testAPIKey, `{"channel":"d","data":"last words"}`)

	if err := n.stop(); err != nil {
		t.Fatalf("drain: %v", err)
	}
	var sawPub, sawDisconnect bool
	for !sawDisconnect {
		p := c.push()
		sawPub = sawPub || (p.Push == "pub" && string(p.Data) == `"last words"`)
		if p.Push == "disconnect" {
			sawDisconnect = true
			if p.Code != 3001 || !p.Reconnect {
				t.Fatalf("disconnect push %+v", p)
			}
		}
	}
	if !sawPub {
		t.Fatal("the publication queued before shutdown was not flushed")
	}
	if ce := c.waitClosed(); ce == nil || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("close %v, want 1001", ce)
	}
	var events []string
	for ev := range s.events {
		events = append(events, ev.Event)
		if ev.Event == "disconnect" {
			break
		}
	}
	if got := strings.Join(events, ","); !strings.HasSuffix(got, "pub,disconnect") {
		t.Fatalf("SSE events at shutdown: %s", got)
	}
	<-s.done // the stream ended
}

func TestMountPrefixAndDisable(t *testing.T) {
	n := startNode(t, func(c *config.Config) { native.Settings(*c).Prefix = "/rt" })
	if code, _ := api(t, n, "POST", "/rt/v1/api/publish", testAPIKey, `{"channel":"a","data":1}`); code != 200 {
		t.Fatalf("publish below the prefix: %d", code)
	}
	if code, _ := api(t, n, "POST", "/v1/api/publish", testAPIKey, `{"channel":"a","data":1}`); code != 404 {
		t.Fatalf("publish at the bare path: %d, want 404", code)
	}
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(n.URL, "http")+"/rt/v1/ws", nil)
	if err != nil {
		t.Fatalf("websocket below the prefix: %v", err)
	}
	conn.Close()

	off := startNode(t, func(c *config.Config) { native.Settings(*c).Enabled = false })
	if code, _ := api(t, off, "POST", "/v1/api/publish", testAPIKey, `{"channel":"a","data":1}`); code != 404 {
		t.Fatalf("disabled app answered %d, want 404", code)
	}
	if code, _ := api(t, off, "GET", "/healthz", "", ""); code != 200 {
		t.Fatalf("ops must stay up with every app disabled: %d", code)
	}
}

// TestRestartIsNeverRecovered restarts a node on the same data directory: the memory broker's
// history is gone, so the stream has a new epoch and a client's old position is answered with
// recovered=false, never with an empty "complete" replay.
func TestRestartIsNeverRecovered(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, func(c *config.Config) { c.DataDir = dir })
	c := connect(t, n, "")
	before := decode[subResult](t, mustOK(t, c.call("subscribe", map[string]any{"channel": "small:restart"})).Result)
	api(t, n, "POST", "/v1/api/publish", testAPIKey, `{"channel":"small:restart","data":1}`)
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	m := startNode(t, func(c *config.Config) { c.DataDir = dir })
	d := connect(t, m, "")
	since := map[string]any{"offset": before.Offset, "epoch": before.Epoch}
	after := decode[subResult](t, mustOK(t, d.call("subscribe", map[string]any{"channel": "small:restart", "since": since})).Result)
	if after.Recovered == nil || *after.Recovered || len(after.Publications) != 0 || after.Epoch == before.Epoch {
		t.Fatalf("after restart: %+v (epoch before %s)", after, before.Epoch)
	}
}

func TestSSETokenExpiryEndsStream(t *testing.T) {
	n := startNode(t, nil)
	// The verifier allows 5 s of clock skew, so a token that expired 1–2 s ago (exp has
	// whole-second precision) still opens the stream, and its expiry has passed: the stream
	// ends at once with 3005.
	tok, _ := auth.Sign(testSecret, "eve", -time.Second, nil, nil)
	s, code, body := openSSE(t, n, "channel=feed&token="+tok, "")
	if code != 200 {
		t.Fatalf("open: %d %s", code, body)
	}
	for {
		ev := s.next()
		if ev.Event == "disconnect" {
			if !strings.Contains(ev.Data, `"code":3005`) {
				t.Fatalf("disconnect %s", ev.Data)
			}
			break
		}
	}
	<-s.done
}

func TestSSEHeartbeat(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.Limits.PingInterval = config.Duration(10 * time.Millisecond) })
	client := &http.Client{Timeout: guard} // bounds the body reads below too
	resp, err := client.Get(n.URL + "/v1/sse?channel=hb")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// An idle stream carries ": ping" comments, which EventSource ignores and proxies see as
	// traffic.
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "\n: ping\n") {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatalf("stream ended before a heartbeat: %v (read %q)", err, got.String())
		}
		got.Write(buf[:n])
	}
}
