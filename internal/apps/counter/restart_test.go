package counter_test

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	sioclient "github.com/zishang520/socket.io/clients/socket/v3"

	"github.com/switchboard/switchboard/internal/node"
	"github.com/switchboard/switchboard/internal/node/nodetest"
	"github.com/switchboard/switchboard/internal/transport/sio/goclient"
)

const guard = 10 * time.Second // bounds every wait; not a speed assertion

func stats(t *testing.T, base string) map[string]int64 {
	t.Helper()
	r, err := http.Get(base + "/api/current_stats")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var s map[string]int64
	if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// socket is a Go socket.io client (WebSocket, no reconnection) of the counter at base, not
// yet connected: goclient.Connect it once its handlers are on (a client that connected first
// could see "connect" before its handler existed).
func socket(t *testing.T, base string) *sioclient.Socket {
	t.Helper()
	sock, err := goclient.New(base, goclient.Options{Path: "/api/socket.io"})
	if err != nil {
		t.Fatal(err)
	}
	return sock
}

// TestRestartKeepsCounts clicks over a real socket.io connection, stops the node, starts it
// again on the same data and finds every count (frust lost the running hour).
func TestRestartKeepsCounts(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	n := nodetest.Start(t, cfg)

	sock := socket(t, n.URL) // connected below, once the handlers are on
	var clicks atomic.Int64
	done, evented := make(chan struct{}), make(chan struct{})
	const want = 7
	_ = sock.On("click", func(...any) {
		if clicks.Add(1) == want {
			close(done)
		}
	})
	_ = sock.On("event", func(...any) { close(evented) })
	_ = sock.On("connect", func(...any) {
		for range want {
			_ = sock.Emit("click", map[string]any{"user": "Gast", "comment": "", "style": " "})
		}
		_ = sock.Emit("event", map[string]any{"user": "Gast", "name": "pride"})
	})
	if err := goclient.Connect(sock, 1); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan struct{}{done, evented} {
		select {
		case <-ch:
		case <-time.After(guard):
			t.Fatalf("saw %d of %d clicks", clicks.Load(), want)
		}
	}
	sock.Disconnect()
	before := stats(t, n.URL)
	if before["click_count_total"] != want || before["click_count_hour"] != want {
		t.Fatalf("before restart: %v", before)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	n2 := nodetest.Start(t, cfg)
	after := stats(t, n2.URL)
	if before["event_count_total"] != 1 || before["event_count_hour"] != 1 {
		t.Fatalf("before restart: %v", before)
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("after restart %s = %d, was %d (%v)", k, after[k], v, after)
		}
	}
}
