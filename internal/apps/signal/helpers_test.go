package signal_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/apps/signal"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node/nodetest"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

// guard bounds every wait so a broken server fails a test instead of hanging it; it is not
// a speed assertion.
const guard = 10 * time.Second

func testConfig(t testing.TB, mutate func(*config.Config)) config.Config {
	return nodetest.Config(t, mutate)
}

func startNode(t testing.TB, mutate func(*config.Config)) *nodetest.Node {
	t.Helper()
	return nodetest.Start(t, testConfig(t, mutate))
}

// response is an HTTP answer with its JSON decoded.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %s", r.Status, r.Body)
	}
	return m
}

// do sends a request; body is a string (sent as is) or a value (sent as JSON).
func do(t testing.TB, method, url string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Timeout: guard}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// want fails unless r has status and its body holds every fragment.
func want(t testing.TB, r response, status int, fragments ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	for _, f := range fragments {
		if !strings.Contains(string(r.Body), f) {
			t.Fatalf("answer lacks %s: %s", f, r.Body)
		}
	}
}

// push is one publication received on a native channel over SSE.
type push struct {
	ID   string
	Data json.RawMessage
}

// subscribe opens an SSE stream on a native channel and returns its publications' data.
func subscribe(t testing.TB, base, channel string) <-chan push {
	t.Helper()
	resp, err := http.Get(base + "/v1/sse?channel=" + channel)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("sse %s: %d %s", channel, resp.StatusCode, b)
	}
	out := make(chan push, 100)
	subscribed := make(chan struct{})
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var id, event string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "event: "):
				event = line[7:]
			case strings.HasPrefix(line, "data: ") && event == "subscribed":
				close(subscribed)
			case strings.HasPrefix(line, "data: ") && event == "pub":
				var p struct {
					Data json.RawMessage `json:"data"`
				}
				_ = json.Unmarshal([]byte(line[6:]), &p)
				out <- push{id, p.Data}
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	select {
	case <-subscribed:
	case <-time.After(guard):
		t.Fatal("no subscribed event")
	}
	return out
}

func next[T any](t testing.TB, c <-chan T) T {
	t.Helper()
	select {
	case v, ok := <-c:
		if !ok {
			t.Fatal("stream ended")
		}
		return v
	case <-time.After(guard):
		t.Fatal("nothing arrived")
	}
	var zero T
	return zero
}

// g4Peer is a G4 identity: an Ed25519 key pair that signs its calls.
type g4Peer struct {
	url  string
	pub  string
	priv ed25519.PrivateKey
	now  func() int64
}

func newG4Peer(url string) *g4Peer {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return &g4Peer{url: url, pub: hex.EncodeToString(pub), priv: priv, now: func() int64 { return time.Now().UnixMilli() }}
}

func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// sign returns the auth object for method and params, as the client makes it.
func (p *g4Peer) sign(t testing.TB, method string, params any) map[string]any {
	t.Helper()
	var parsed any = map[string]any{}
	if params != nil {
		j, _ := json.Marshal(params)
		_ = json.Unmarshal(j, &parsed)
	}
	canon, err := signal.CanonicalJSON(parsed)
	if err != nil {
		t.Fatal(err)
	}
	ts, nonce := p.now(), uuid4()
	msg := strconv.FormatInt(ts, 10) + ":" + nonce + ":" + method + ":" + canon
	return map[string]any{"publicKey": p.pub, "timestamp": ts, "nonce": nonce,
		"signature": base64.StdEncoding.EncodeToString(ed25519.Sign(p.priv, []byte(msg)))}
}

// rpcCall is one element of a batch.
type rpcCall struct {
	Method string         `json:"method"`
	Params any            `json:"params,omitempty"`
	Auth   map[string]any `json:"auth,omitempty"`
}

// signed makes an authenticated call.
func (p *g4Peer) signed(t testing.TB, method string, params any) rpcCall {
	return rpcCall{method, params, p.sign(t, method, params)}
}

// rpcResult is one element of an answer.
type rpcResult struct {
	Success   bool            `json:"success"`
	Result    json.RawMessage `json:"result"`
	Error     string          `json:"error"`
	ErrorCode string          `json:"errorCode"`
}

// batch posts calls and returns the per-call results (the HTTP status must be 200).
func (p *g4Peer) batch(t testing.TB, calls ...rpcCall) []rpcResult {
	t.Helper()
	r := do(t, "POST", p.url+"/rpc", calls)
	want(t, r, http.StatusOK)
	var out []rpcResult
	if err := json.Unmarshal(r.Body, &out); err != nil || len(out) != len(calls) {
		t.Fatalf("answer is not %d results: %s", len(calls), r.Body)
	}
	return out
}

// call makes one signed call and decodes its result into T, failing on an error.
func call[T any](t testing.TB, p *g4Peer, method string, params any) T {
	t.Helper()
	res := p.batch(t, p.signed(t, method, params))[0]
	if !res.Success {
		t.Fatalf("%s failed: %s (%s)", method, res.Error, res.ErrorCode)
	}
	var v T
	if err := json.Unmarshal(res.Result, &v); err != nil {
		t.Fatalf("%s result: %v: %s", method, err, res.Result)
	}
	return v
}

// callErr makes one signed call that must fail with code.
func callErr(t testing.TB, p *g4Peer, method string, params any, code string) rpcResult {
	t.Helper()
	res := p.batch(t, p.signed(t, method, params))[0]
	if res.Success || res.ErrorCode != code {
		t.Fatalf("%s: got success=%v %s %q, want %s", method, res.Success, res.ErrorCode, res.Error, code)
	}
	return res
}

func canonical(v any) (string, error) { return signal.CanonicalJSON(v) }

// signMessage signs T:N:method:canon with a fresh timestamp.
func signMessage(p *g4Peer, method, canon, nonce string) map[string]any {
	ts := p.now()
	msg := strconv.FormatInt(ts, 10) + ":" + nonce + ":" + method + ":" + canon
	return map[string]any{"publicKey": p.pub, "timestamp": ts, "nonce": nonce,
		"signature": base64.StdEncoding.EncodeToString(ed25519.Sign(p.priv, []byte(msg)))}
}

// eachStore runs fn on a node over SQLite and over PostgreSQL (a schema of its own).
func eachStore(t *testing.T, fn func(t *testing.T, useStore func(*config.Config))) {
	t.Run("sqlite", func(t *testing.T) { fn(t, func(*config.Config) {}) })
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		fn(t, func(c *config.Config) { c.Store = dsn })
	})
}
