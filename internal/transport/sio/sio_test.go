package sio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard/switchboard/internal/apps/chat"
	"github.com/switchboard/switchboard/internal/apps/counter"
	"github.com/switchboard/switchboard/internal/broker"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/metrics"
	"github.com/switchboard/switchboard/internal/node/nodetest"
	"github.com/switchboard/switchboard/internal/transport"
	"github.com/switchboard/switchboard/internal/transport/sio"
	"github.com/switchboard/switchboard/internal/transport/sio/siotest"
)

const guard = 10 * time.Second // bounds every wait; not a speed assertion

func start(t *testing.T, mutate func(*config.Config)) *nodetest.Node {
	t.Helper()
	return nodetest.Start(t, nodetest.Config(t, mutate))
}

var client = &http.Client{Timeout: guard}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	r, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

func post(t *testing.T, url, body string) int {
	t.Helper()
	r, err := client.Post(url, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return r.StatusCode
}

// handshake opens an Engine.IO long-polling session and returns its URL (with sid) and the
// open packet's fields.
func handshake(t *testing.T, base string, eio string) (string, map[string]any) {
	t.Helper()
	u := base + "?EIO=" + eio + "&transport=polling"
	status, body := get(t, u)
	if status != 200 {
		t.Fatalf("handshake: %d %s", status, body)
	}
	i := strings.Index(body, "0{")
	if i < 0 {
		t.Fatalf("no open packet in %q", body)
	}
	var open map[string]any
	if err := json.NewDecoder(strings.NewReader(body[i+1:])).Decode(&open); err != nil {
		t.Fatalf("open packet %q: %v", body, err)
	}
	return u + "&sid=" + open["sid"].(string), open
}

// TestCrossOriginUpgrade: socket.io's WebSocket upgrade follows cors_origins exactly as
// /v1/ws does (the library alone allowed same-origin pages only, so a page elsewhere stayed
// on long-polling).
func TestCrossOriginUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name    string
		origins []string
		origin  string
		want    int
	}{
		{"default (*): another origin", nil, "https://other.example", 101},
		{"listed origin", []string{"https://app.example"}, "https://app.example", 101},
		{"unlisted origin", []string{"https://app.example"}, "https://evil.example", 403},
		{"no Origin (not a browser)", []string{"https://app.example"}, "", 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := start(t, func(c *config.Config) {
				if tc.origins != nil {
					c.CORSOrigins = tc.origins
				}
			})
			for _, path := range []string{"/api/socket.io/", "/chat/socket.io/"} {
				h := http.Header{}
				if tc.origin != "" {
					h.Set("Origin", tc.origin)
				}
				u := strings.Replace(n.URL, "http", "ws", 1) + path + "?EIO=4&transport=websocket"
				c, res, err := websocket.DefaultDialer.Dial(u, h)
				if c != nil {
					c.Close()
				}
				got := 0
				if res != nil {
					got = res.StatusCode
				}
				if got != tc.want {
					t.Fatalf("%s from %q: %d (%v), want %d", path, tc.origin, got, err, tc.want)
				}
			}
		})
	}
}

// TestInvalidPayloadClosesSession: a long-polling payload that does not parse closes the
// session, as stock socket.io does, on both Engine.IO versions.
func TestInvalidPayloadClosesSession(t *testing.T) {
	n := start(t, nil)
	for _, eio := range []string{"3", "4"} {
		t.Run("EIO"+eio, func(t *testing.T) {
			u, _ := handshake(t, n.URL+"/api/socket.io/", eio)
			post(t, u, "zz")
			if status, body := get(t, u); status != 400 || !strings.Contains(body, "Session ID unknown") {
				t.Fatalf("after an invalid payload: %d %s, want the session gone", status, body)
			}
		})
	}
}

// TestOptionsPerMount: each app's socket.io section sets what the handshake announces, and
// the connect timeout closes a client that never joins a namespace.
func TestOptionsPerMount(t *testing.T) {
	n := start(t, func(c *config.Config) {
		s := &chat.Settings(*c).SocketIO
		s.PingInterval, s.PingTimeout, s.MaxPayload = config.Duration(7*time.Second), config.Duration(3*time.Second), 5000
		counter.Settings(*c).SocketIO.ConnectTimeout = config.Duration(500 * time.Millisecond)
	})
	for _, tc := range []struct {
		path                   string
		interval, timeout, max float64
	}{
		{"/chat/socket.io/", 7000, 3000, 5000},
		{"/api/socket.io/", 25000, 20000, 16 << 10}, // the defaults
	} {
		_, open := handshake(t, n.URL+tc.path, "4")
		if open["pingInterval"] != tc.interval || open["pingTimeout"] != tc.timeout || open["maxPayload"] != tc.max {
			t.Fatalf("%s open packet %v", tc.path, open)
		}
	}
	// No CONNECT within 500 ms: the long poll ends with a close packet.
	u, _ := handshake(t, n.URL+"/api/socket.io/", "4")
	if status, body := get(t, u); status != 200 || body != "1" {
		t.Fatalf("poll of a session that never connected: %d %q, want the close packet", status, body)
	}
}

// TestShutdownClosesTransport: on drain every socket gets its app's goodbye (chat: "refresh
// page"), then its transport closes; no socket.io disconnect packet, which would stop every
// client from reconnecting.
func TestShutdownClosesTransport(t *testing.T) {
	n := start(t, nil)
	base := n.URL + "/chat/socket.io/"
	// A WebSocket client…
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(base, "http", "ws", 1)+"?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	read := func() (string, error) {
		_ = ws.SetReadDeadline(time.Now().Add(guard))
		_, b, err := ws.ReadMessage()
		return string(b), err
	}
	if open, err := read(); err != nil || !strings.HasPrefix(open, "0{") {
		t.Fatalf("open %q %v", open, err)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
	if ack, err := read(); err != nil || !strings.HasPrefix(ack, "40") {
		t.Fatalf("connect %q %v", ack, err)
	}
	// …and a long-polling one, joined and polling.
	u, _ := handshake(t, base, "4")
	post(t, u, "40")
	if status, body := get(t, u); status != 200 || !strings.HasPrefix(body, "40") {
		t.Fatalf("connect over polling: %d %q", status, body)
	}
	polled := make(chan string, 8)
	go func() {
		defer close(polled)
		for {
			r, err := client.Get(u)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			polled <- string(b)
			if r.StatusCode != 200 || strings.HasSuffix(string(b), "1") {
				return
			}
		}
	}()

	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	var wsGot []string
	for {
		m, err := read()
		if err != nil {
			break // the transport closed
		}
		wsGot = append(wsGot, m)
	}
	var pollGot []string
	for b := range polled {
		pollGot = append(pollGot, strings.Split(b, "\x1e")...)
	}
	for name, got := range map[string][]string{"websocket": wsGot, "polling": pollGot} {
		joined := strings.Join(got, " | ")
		if !strings.Contains(joined, `42["refresh page"]`) {
			t.Errorf("%s: no goodbye before the close: %s", name, joined)
		}
		for _, p := range got {
			if strings.HasPrefix(p, "41") {
				t.Errorf("%s: a socket.io disconnect packet (clients would not reconnect): %s", name, joined)
			}
		}
	}
}

// server runs a bare sio.Server (no app) over a memory hub, with onConnect for its sockets.
func server(t *testing.T, onConnect func(*sio.Socket), tune ...func(*sio.Options)) (*sio.Server, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mem := broker.NewMemory(time.Hour)
	h := hub.New(mem, mem, log)
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	reg := transport.NewRegistry(0, 0, time.Minute)
	o := sio.Options{
		Settings: sio.DefaultSettings(1e6),
		Registry: reg, Log: log, Hub: h, Channel: "test:events", OnConnect: onConnect,
	}
	for _, f := range tune {
		f(&o)
	}
	s, err := sio.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		_ = reg.Drain(ctx)
		srv.Close()
		s.Close()
	})
	return s, srv.URL
}

// TestEmitOnConnect: clients that emit the instant they see CONNECT (every socket.io client
// does) are all answered; without the patch in third_party (PATCHES.md) one in about 40 was
// force-closed as "invalid state".
func TestEmitOnConnect(t *testing.T) {
	_, url := server(t, func(s *sio.Socket) {
		s.On("hello", func(arg any) { s.Emit("welcome", arg) })
	})
	const clients = 60
	answers := make(chan string, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			r, err := siotest.Open(t, url+"/socket.io/")
			if err != nil {
				answers <- err.Error()
				return
			}
			r.Send("40")
			r.Read()                                      // connected
			r.Send(`42["hello",` + strconv.Itoa(i) + `]`) // at once
			answers <- r.Read()
		})
	}
	wg.Wait()
	close(answers)
	seen := map[string]bool{}
	for a := range answers {
		seen[a] = true
	}
	for i := range clients {
		if w := `42["welcome",` + strconv.Itoa(i) + `]`; !seen[w] {
			t.Errorf("client %d was not answered (answers: %v)", i, seen)
		}
	}
}

// TestBroadcastRooms: a broadcast reaches the sockets of its room, or every socket for "",
// with its argument intact, non-ASCII included.
func TestBroadcastRooms(t *testing.T) {
	joined := make(chan struct{}, 2)
	s, url := server(t, func(s *sio.Socket) {
		s.On("join", func(arg any) {
			s.Join(arg.(string))
			joined <- struct{}{}
		})
	})
	red, blue := siotest.Dial(t, url+"/socket.io/"), siotest.Dial(t, url+"/socket.io/")
	red.Send(`42["join","red"]`)
	blue.Send(`42["join","blue"]`)
	for range 2 {
		select {
		case <-joined:
		case <-time.After(guard):
			t.Fatal("clients did not join")
		}
	}
	ctx := context.Background()
	if err := s.Broadcast(ctx, "red", "news", map[string]any{"to": "red", "text": "grüße 🎉"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Broadcast(ctx, "", "news", map[string]any{"to": "all"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    *siotest.Client
		want string
	}{
		{red, `42["news",{"text":"grüße 🎉","to":"red"}]`},
		{red, `42["news",{"to":"all"}]`},
		{blue, `42["news",{"to":"all"}]`}, // the room broadcast passed blue by
	} {
		if got := tc.c.Read(); got != tc.want {
			t.Fatalf("got %q, want %q", got, tc.want)
		}
	}
	if err := s.Broadcast(ctx, "a\nb", "news", nil); err == nil {
		t.Fatal("a room with a newline was accepted")
	}
}

// TestBroadcastKeepsOrderWithEmits: a broadcast's packet takes the engine's fast path (onto
// the WebSocket queue directly, PATCHES.md) and a socket's own emit the buffered one; sent
// alternately from one goroutine, they arrive in the order sent.
func TestBroadcastKeepsOrderWithEmits(t *testing.T) {
	for _, delay := range []time.Duration{0, 5 * time.Millisecond} {
		t.Run("write_delay="+delay.String(), func(t *testing.T) { broadcastsInOrder(t, delay) })
	}
}

// broadcastsInOrder runs TestBroadcastKeepsOrderWithEmits with a write delay (a connection
// writes at most once per delay, so what is sent meanwhile shares the write).
func broadcastsInOrder(t *testing.T, delay time.Duration) {
	const n = 200
	var srv *sio.Server
	ready := make(chan struct{})
	srv, url := server(t, func(s *sio.Socket) {
		s.On("go", func(any) {
			<-ready
			for i := range n {
				if i%2 == 0 {
					s.Emit("n", i)
				} else if err := srv.Broadcast(context.Background(), "", "n", i); err != nil {
					t.Error(err)
				}
			}
		})
	}, func(o *sio.Options) { o.WriteDelay = delay })
	close(ready)
	c := siotest.Dial(t, url+"/socket.io/")
	c.Send(`42["go"]`)
	for i := range n {
		if got, want := c.Read(), `42["n",`+strconv.Itoa(i)+`]`; got != want {
			t.Fatalf("message %d: got %q, want %q", i, got, want)
		}
	}
}

// TestSlowConsumerIsCutOff: a socket whose client stops reading is closed once its WebSocket
// outbound queue outgrows QueueBytes (the patched Engine.IO transport, PATCHES.md), counted
// as a "slow" disconnect like a native connection's, and its client is free to reconnect; a
// socket that reads meanwhile gets every broadcast, in order.
func TestSlowConsumerIsCutOff(t *testing.T) {
	var n atomic.Int32
	connected := make(chan struct{}, 2)
	gone := make(chan string, 2)
	s, url := server(t, func(s *sio.Socket) {
		id := n.Add(1)
		s.On("disconnect", func(reason any) { gone <- fmt.Sprint(id, " ", reason) })
		connected <- struct{}{}
	}, func(o *sio.Options) { o.QueueBytes = 32 << 10 })
	// The stalled client's receive buffer is tiny and it never reads, so the server's socket
	// buffer fills and the transport's queue grows.
	tiny := &websocket.Dialer{NetDialContext: (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
	}}).DialContext}
	stalled, err := siotest.OpenWith(t, url+"/socket.io/", tiny)
	if err != nil {
		t.Fatal(err)
	}
	stalled.Send("40")
	<-connected
	reader := siotest.Dial(t, url+"/socket.io/")
	<-connected
	before := metrics.Value(metrics.Disconnects.WithLabelValues("slow"))

	// Lockstep with the reader, so that only the stalled socket falls behind.
	pad := strings.Repeat("x", 8<<10)
	var cut string
	i := 0
	for ; i < 4000 && cut == ""; i++ { // at most 32 MB
		if err := s.Broadcast(context.Background(), "", "blob", map[string]any{"i": i, "pad": pad}); err != nil {
			t.Fatal(err)
		}
		if m, want := reader.Read(), `42["blob",{"i":`+strconv.Itoa(i)+`,"pad":"`+pad+`"}]`; m != want {
			t.Fatalf("the reader got %.40q…, want blob %d", m, i)
		}
		select {
		case cut = <-gone:
		default:
		}
	}
	if cut == "" {
		t.Fatal("the stalled socket was never cut off")
	}
	t.Logf("cut off after %d broadcasts of 8 KB", i)
	if cut != "1 transport error" {
		t.Fatalf("disconnect %q, want the stalled socket (1) with a transport error", cut)
	}
	if after := metrics.Value(metrics.Disconnects.WithLabelValues("slow")); after != before+1 {
		t.Errorf("slow disconnects %v → %v, want one more", before, after)
	}
	// The reader is still connected.
	reader.Send(`42["still here"]`)
	select {
	case g := <-gone:
		t.Fatalf("the reader was cut off too: %s", g)
	default:
	}
}

// TestSlowPollingConsumerIsCutOff: a long-polling socket whose client stops polling has its
// buffer bounded by QueueBytes as a WebSocket's queue is (the patched Engine.IO socket): it is
// closed as a slow consumer instead of buffering every broadcast until its ping times out.
func TestSlowPollingConsumerIsCutOff(t *testing.T) {
	gone := make(chan string, 1)
	connected := make(chan struct{}, 1)
	s, url := server(t, func(s *sio.Socket) {
		s.On("disconnect", func(reason any) { gone <- fmt.Sprint(reason) })
		connected <- struct{}{}
	}, func(o *sio.Options) { o.QueueBytes = 32 << 10 })
	session, _ := handshake(t, url+"/socket.io/", "4")
	if status := post(t, session, "40"); status != 200 {
		t.Fatalf("connect: %d", status)
	}
	select {
	case <-connected:
	case <-time.After(guard):
		t.Fatal("the socket did not connect")
	}
	before := metrics.Value(metrics.Disconnects.WithLabelValues("slow"))
	// The client never polls again; the broadcasts pile up in its buffer: 64 KB, twice the
	// bound.
	pad := strings.Repeat("x", 8<<10)
	for i := range 8 {
		if err := s.Broadcast(context.Background(), "", "blob", map[string]any{"i": i, "pad": pad}); err != nil {
			t.Fatal(err)
		}
	}
	var cut string
	select {
	case cut = <-gone:
	case <-time.After(guard):
		t.Fatal("the silent polling socket was never cut off")
	}
	if cut != "transport error" {
		t.Fatalf("disconnect %q, want a transport error", cut)
	}
	if after := metrics.Value(metrics.Disconnects.WithLabelValues("slow")); after != before+1 {
		t.Errorf("slow disconnects %v → %v, want one more", before, after)
	}
}
