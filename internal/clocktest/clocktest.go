// Package clocktest holds waits for tests: code under test that would sleep (a writer's
// spacing, a commit window) asks a Held instead, and the test decides when the wait ends, so
// nothing is timed.
package clocktest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// guard bounds how long a test waits for something that must happen; past it the test fails
// instead of hanging.
const guard = 10 * time.Second

// Held is a wait the test releases, and a clock of its own: Now starts at a fixed time and
// moves only when the test advances it. Each wait asked for is recorded.
type Held struct {
	asked   chan time.Duration
	release chan struct{}
	mu      sync.Mutex
	now     time.Time
}

// NewHeld returns a Held that keeps up to 16 waits asked for and not yet checked.
func NewHeld() *Held {
	return &Held{asked: make(chan time.Duration, 16), release: make(chan struct{}), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// Now is the held clock's time.
func (h *Held) Now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

// Advance moves the held clock by d.
func (h *Held) Advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

// Wait records d and blocks until the test releases it (true) or ctx ends (false).
func (h *Held) Wait(ctx context.Context, d time.Duration) bool {
	select {
	case h.asked <- d:
	default: // more waits than anyone checks
	}
	select {
	case <-h.release:
		return true
	case <-ctx.Done():
		return false
	}
}

// Sleep is Wait without a context: a stand-in for time.Sleep.
func (h *Held) Sleep(d time.Duration) { h.Wait(context.Background(), d) }

// Asked fails the test unless a wait of more than 0 and at most max is asked for; what says
// what was waiting. It returns the wait.
func (h *Held) Asked(t testing.TB, what string, max time.Duration) time.Duration {
	t.Helper()
	select {
	case d := <-h.asked:
		if d <= 0 || d > max {
			t.Fatalf("%s waits %v, want more than 0 and at most %v", what, d, max)
		}
		return d
	case <-time.After(guard):
		t.Fatalf("%s did not wait", what)
	}
	return 0
}

// Release ends one wait, blocking until one is in progress.
func (h *Held) Release(t testing.TB) {
	t.Helper()
	select {
	case h.release <- struct{}{}:
	case <-time.After(guard):
		t.Fatal("no wait to release")
	}
}

// ReleaseAll ends every wait, now and later.
func (h *Held) ReleaseAll() { close(h.release) }
