package native_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node"
	"github.com/switchboard/switchboard/internal/node/nodetest"
)

// guard bounds every wait, so a broken server fails a test instead of hanging it. It is not a
// speed assertion: nothing here is expected to take more than a few milliseconds.
const guard = 10 * time.Second

const (
	testAPIKey = "test-api-key"
	testSecret = "test-hmac-secret"
)

type testNode struct {
	*nodetest.Node
}

// stop drains the node (see nodetest.Node.Stop).
func (n *testNode) stop() error { return n.Stop() }

// startNode runs a full node on a random loopback port with a fresh SQLite file.
func startNode(t testing.TB, mutate func(*config.Config)) *testNode {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.APIKey = testAPIKey
	cfg.TokenHMACSecret = testSecret
	cfg.Limits.HTTPRate = 0 // tests dial and request far faster than a person; TestHTTPRateLimit sets it
	cfg.Namespaces = append(cfg.Namespaces,
		config.Namespace{Name: "private", Subscribe: "token", Publish: "none"},
		config.Namespace{Name: "users", Subscribe: "users", Publish: "users", Presence: true},
		config.Namespace{Name: "nohist", Subscribe: "all", Publish: "all"},
		config.Namespace{Name: "small", Subscribe: "all", Publish: "all", HistorySize: 3, HistoryTTL: config.Duration(time.Hour)},
	)
	if mutate != nil {
		mutate(&cfg)
	}
	return &testNode{nodetest.Start(t, cfg)}
}

// frame is one server message (reply or push), split out of a batched WebSocket frame.
type frame struct {
	ID     uint32          `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Push      string          `json:"push"`
	Channel   string          `json:"channel"`
	Offset    uint64          `json:"offset"`
	Data      json.RawMessage `json:"data"`
	Info      json.RawMessage `json:"info"`
	Code      int             `json:"code"`
	Reason    string          `json:"reason"`
	Reconnect bool            `json:"reconnect"`
}

type wsClient struct {
	t      testing.TB
	conn   *websocket.Conn
	frames chan frame
	closed chan struct{}
	// closeErr is the read error that ended the connection (a *websocket.CloseError when the
	// server closed it properly).
	closeErr error
	nextID   uint32
	pending  []frame
	mu       sync.Mutex
}

func dial(t testing.TB, n *testNode, header http.Header) *wsClient {
	t.Helper()
	c, err := dialErr(t, n, header)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

func dialErr(t testing.TB, n *testNode, header http.Header) (*wsClient, error) {
	u := "ws" + strings.TrimPrefix(n.URL, "http") + "/v1/ws"
	conn, resp, err := websocket.DefaultDialer.Dial(u, header)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			return nil, fmt.Errorf("%w: %d %s", err, resp.StatusCode, b)
		}
		return nil, err
	}
	c := &wsClient{t: t, conn: conn, frames: make(chan frame, 100000), closed: make(chan struct{})}
	go c.readLoop()
	t.Cleanup(func() { conn.Close() })
	return c, nil
}

func (c *wsClient) readLoop() {
	defer close(c.closed)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.closeErr = err
			return
		}
		for _, line := range bytes.Split(data, []byte{'\n'}) {
			var f frame
			if err := json.Unmarshal(line, &f); err != nil {
				c.t.Errorf("server sent invalid JSON %q: %v", line, err)
				continue
			}
			if f.Push == "ping" {
				_ = c.writeRaw([]byte(`{"method":"pong"}`))
				continue
			}
			c.frames <- f
		}
	}
}

func (c *wsClient) writeRaw(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

// call sends a command and returns its reply, keeping pushes that arrive before it.
func (c *wsClient) call(method string, params any) frame {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	cmd := map[string]any{"id": id, "method": method}
	if params != nil {
		cmd["params"] = params
	}
	b, _ := json.Marshal(cmd)
	if err := c.writeRaw(b); err != nil {
		c.t.Fatalf("write %s: %v", method, err)
	}
	for {
		f := c.next()
		if f.ID == id {
			return f
		}
		if f.Push == "" {
			c.t.Fatalf("reply to %d while waiting for %d: %+v", f.ID, id, f)
		}
		c.pending = append(c.pending, f)
	}
}

func (c *wsClient) next() frame {
	c.t.Helper()
	return await(c.t, c.frames, c.closed, func() string { return fmt.Sprintf("connection closed (%v)", c.closeErr) })
}

// await returns the next item from items. Once done is closed (the reader has ended), it
// returns what is still buffered and then fails with ended(); it fails after guard too.
func await[T any](t testing.TB, items <-chan T, done <-chan struct{}, ended func() string) T {
	t.Helper()
	select {
	case it := <-items:
		return it
	case <-done:
		select {
		case it := <-items:
			return it
		default:
		}
		t.Fatal(ended() + " while waiting")
	case <-time.After(guard):
		t.Fatal("nothing from the server")
	}
	var zero T
	return zero
}

// push returns the next push, including those that arrived during a call.
func (c *wsClient) push() frame {
	c.t.Helper()
	if len(c.pending) > 0 {
		f := c.pending[0]
		c.pending = c.pending[1:]
		return f
	}
	return c.next()
}

// waitClosed waits for the server to close the connection and returns the close error.
func (c *wsClient) waitClosed() *websocket.CloseError {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(guard):
		c.t.Fatal("server did not close the connection")
	}
	ce, _ := c.closeErr.(*websocket.CloseError)
	return ce
}

func connect(t testing.TB, n *testNode, token string) *wsClient {
	t.Helper()
	c := dial(t, n, nil)
	params := map[string]any{}
	if token != "" {
		params["token"] = token
	}
	if r := c.call("connect", params); r.Error != nil {
		t.Fatalf("connect: %+v", r.Error)
	}
	return c
}

func mustOK(t testing.TB, f frame) frame {
	t.Helper()
	if f.Error != nil {
		t.Fatalf("unexpected error %d %s", f.Error.Code, f.Error.Message)
	}
	return f
}

func wantErr(t testing.TB, f frame, code int) {
	t.Helper()
	if f.Error == nil || f.Error.Code != code {
		t.Fatalf("want error %d, got %+v (result %s)", code, f.Error, f.Result)
	}
}

type subResult struct {
	Channel      string `json:"channel"`
	Offset       uint64 `json:"offset"`
	Epoch        string `json:"epoch"`
	Recoverable  bool   `json:"recoverable"`
	Recovered    *bool  `json:"recovered"`
	Publications []struct {
		Offset uint64          `json:"offset"`
		Data   json.RawMessage `json:"data"`
	} `json:"publications"`
}

func decode[T any](t testing.TB, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// apiClient bounds every API call, so a hung server fails the test instead of hanging it.
var apiClient = &http.Client{Timeout: guard}

// api calls the HTTP server API and returns status and body.
func api(t testing.TB, n *testNode, method, path, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, n.URL+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct{ ID, Event, Data string }

type sseClient struct {
	t      testing.TB
	resp   *http.Response
	events chan sseEvent
	done   chan struct{}
}

func openSSE(t testing.TB, n *testNode, query string, lastEventID string) (*sseClient, int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", n.URL+"/v1/sse?"+query, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, resp.StatusCode, string(b)
	}
	s := &sseClient{t: t, resp: resp, events: make(chan sseEvent, 10000), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" || ev.Data != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Data += line[6:]
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return s, resp.StatusCode, ""
}

func (s *sseClient) next() sseEvent {
	s.t.Helper()
	return await(s.t, s.events, s.done, func() string { return "stream ended" })
}

// metric reads one sample from /metrics (0 when absent). The registry is process-wide, so
// tests compare values before and after rather than absolute counts.
func metric(t testing.TB, n *testNode, name string) float64 {
	t.Helper()
	_, body := api(t, n, "GET", "/metrics", "", "")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	return 0
}
