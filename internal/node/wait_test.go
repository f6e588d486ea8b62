package node_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/broker/natstest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node"
	"github.com/switchboard/switchboard/internal/node/nodetest"
)

// retries is a log handler that signals each "trying again" line.
type retries struct {
	mu    sync.Mutex
	lines []string
	seen  chan struct{}
}

func (r *retries) Enabled(context.Context, slog.Level) bool { return true }
func (r *retries) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *retries) WithGroup(string) slog.Handler            { return r }
func (r *retries) Handle(_ context.Context, rec slog.Record) error {
	if !strings.Contains(rec.Message, "trying again") {
		return nil
	}
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	select {
	case r.seen <- struct{}{}:
	default:
	}
	return nil
}

// TestStartWaitsForBroker: a node whose NATS is not up yet keeps trying, and starts once it
// is (a cluster restarted all at once).
func TestStartWaitsForBroker(t *testing.T) {
	addr := nodetest.FreeAddr(t)
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	cfg := nodetest.Config(t, func(c *config.Config) {
		c.Broker = "nats://" + addr
		c.StartupWait = config.Duration(time.Minute)
	})
	log := &retries{seen: make(chan struct{}, 1)}
	started := make(chan error, 1)
	go func() {
		n, err := node.New(context.Background(), cfg, slog.New(log))
		if err == nil {
			n.Close()
		}
		started <- err
	}()
	select {
	case <-log.seen:
	case err := <-started:
		t.Fatalf("the node did not wait for NATS: %v", err)
	case <-time.After(guard):
		t.Fatal("no retry logged")
	}
	natstest.Start(t, port, "")
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("the node did not start once NATS was up: %v", err)
		}
	case <-time.After(time.Minute + guard):
		t.Fatal("the node is still starting")
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if !strings.Contains(log.lines[0], "what=broker") {
		t.Fatalf("the retry logged %q, without what it waits for", log.lines[0])
	}
}

// TestStartGivesUp: past startup_wait the node fails, naming what it could not reach; with
// 0 it tries once.
func TestStartGivesUp(t *testing.T) {
	tests := []struct {
		name    string
		wait    time.Duration
		retries bool
	}{
		{"after its wait", 3 * time.Second, true}, // tries at 0, 0.25 s, 0.75 s and 1.75 s
		{"at once with no wait", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := nodetest.Config(t, func(c *config.Config) {
				c.Broker = "nats://" + nodetest.FreeAddr(t)
				c.StartupWait = config.Duration(tt.wait)
			})
			log := &retries{seen: make(chan struct{}, 1)}
			n, err := node.New(context.Background(), cfg, slog.New(log))
			if err == nil {
				n.Close()
				t.Fatal("started without NATS")
			}
			if !strings.Contains(err.Error(), "nats") {
				t.Fatalf("error %q does not say what was not reached", err)
			}
			if got := len(log.lines) > 0; got != tt.retries {
				t.Fatalf("retried: %v (%q), want %v", got, log.lines, tt.retries)
			}
		})
	}
}
