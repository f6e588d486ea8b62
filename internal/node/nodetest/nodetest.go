// Package nodetest runs a whole Switchboard node on a random loopback port for tests, the way
// main does, and stops it (draining) when the test ends.
package nodetest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node"
)

// Node is a running node.
type Node struct {
	*node.Node
	// URL is the base address, http://127.0.0.1:port.
	URL string
	// Stop drains (skipping the drain delay) and closes the node, returning what Serve
	// returned. It is safe to call more than once; the test's cleanup calls it too.
	Stop func() error
	// Terminate starts a drain as SIGTERM does, drain delay included, and returns at once;
	// Stop then waits for it.
	Terminate func()
}

// Start serves cfg (give it a DataDir of its own) on 127.0.0.1 with a random port. Logs go to
// the test log under -v and nowhere otherwise.
func Start(t testing.TB, cfg config.Config) *Node {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := node.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			n.Server.SkipDrainDelay()
			cancel()
			serveErr = <-done
			n.Close()
		})
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	return &Node{Node: n, URL: "http://" + ln.Addr().String(), Stop: stop, Terminate: cancel}
}

// Config is the default configuration for a test: its own data directory, no HTTP rate
// limit (tests request far faster than a person), then mutate's changes.
func Config(t testing.TB, mutate func(*config.Config)) config.Config {
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Limits.HTTPRate = 0
	if mutate != nil {
		mutate(&cfg)
	}
	return cfg
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// FreeAddr is a loopback address (127.0.0.1:port) that nothing listens on when it returns:
// for a service a test starts there later, or a dial that must be refused.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
