package goclient_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/node"
	"github.com/switchboard/switchboard/internal/node/nodetest"
	"github.com/switchboard/switchboard/internal/transport/sio/goclient"
)

const guard = 10 * time.Second // bounds every wait; not a speed assertion

// TestConnectOnce: every socket is one socket on the server. A CONNECT sent twice shows as
// a second "connect" or as every broadcast arriving twice; both are checked once a later
// broadcast has come, since a socket's packets arrive in order. (The counter's "stats" greets
// each server-side socket, but it also goes to everyone when the node opens its hour.)
func TestConnectOnce(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	n := nodetest.Start(t, cfg)

	const sockets = 40
	type seen struct{ connects, stats, first, second atomic.Int64 }
	counts := make([]*seen, sockets)
	ready := make(chan struct{}, sockets)
	second := make(chan struct{}, sockets)
	var emitters [2]func()
	for i := range counts {
		c := &seen{}
		counts[i] = c
		sock, err := goclient.New(n.URL, goclient.Options{Path: "/api/socket.io"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sock.Disconnect() })
		_ = sock.On("connect", func(...any) { c.connects.Add(1) })
		_ = sock.On("stats", func(...any) {
			if c.stats.Add(1) == 1 {
				ready <- struct{}{}
			}
		})
		_ = sock.On("click", func(a ...any) {
			m, _ := a[0].(map[string]any)
			switch m["comment"] {
			case "first":
				c.first.Add(1)
			case "second":
				if c.second.Add(1) == 1 {
					second <- struct{}{}
				}
			}
		})
		if i == 0 {
			for k, comment := range []string{"first", "second"} {
				emitters[k] = func() { _ = sock.Emit("click", map[string]any{"user": "Gast", "comment": comment}) }
			}
		}
		if err := goclient.Connect(sock, 1); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(ch chan struct{}, what string) {
		t.Helper()
		for i := range sockets {
			select {
			case <-ch:
			case <-time.After(guard):
				t.Fatalf("%d of %d sockets %s", i, sockets, what)
			}
		}
	}
	wait(ready, "were greeted")
	emitters[0]()
	emitters[1]()
	wait(second, "saw the second click")
	for i, c := range counts {
		if c.connects.Load() != 1 || c.first.Load() != 1 || c.second.Load() != 1 {
			t.Errorf("socket %d: %d connects, %d and %d clicks; want one of each",
				i, c.connects.Load(), c.first.Load(), c.second.Load())
		}
	}
}

// TestConnectFails: a server that is not there is an error after the attempts, not a hang.
func TestConnectFails(t *testing.T) {
	sock, err := goclient.New("http://"+nodetest.FreeAddr(t), goclient.Options{Path: "/api/socket.io"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Disconnect()
	if err := goclient.Connect(sock, 2); err == nil {
		t.Fatal("connected to a closed port")
	}
}
