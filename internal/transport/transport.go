// Package transport holds what every realtime transport shares: the registry of open
// connections, which enforces connection limits, sends heartbeats and drains on shutdown.
package transport

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/metrics"
)

// Conn is an open realtime connection as the registry sees it.
type Conn interface {
	// Heartbeat queues a ping (or, for SSE, a comment) without blocking.
	Heartbeat()
	// Shutdown flushes what is queued and closes the connection with a "going away, reconnect"
	// signal. It does not block.
	Shutdown()
}

// Described is a Conn that says which app and transport it serves, for the figures the
// console shows (Registry.Counts).
type Described interface {
	Describe() (app, transport string)
}

// Count is how many connections one app holds over one transport.
type Count struct {
	App       string `json:"app"`
	Transport string `json:"transport"`
	N         int    `json:"n"`
}

// Errors returned by Registry.Add.
var (
	ErrDraining      = errors.New("server is shutting down")
	ErrTooManyConns  = errors.New("too many connections")
	ErrTooManyFromIP = errors.New("too many connections from this address")
)

// Registry tracks every open connection of every transport.
type Registry struct {
	maxPerIP int
	max      int

	mu       sync.Mutex
	conns    map[Conn]string // → client IP
	pending  int             // slots reserved for handshakes in flight
	perIP    map[string]int  // connections and reserved slots
	draining bool
	empty    chan struct{} // closed when draining and the last connection is gone
	emptied  bool

	stop chan struct{}
}

// NewRegistry returns a registry with the given limits (0 = unlimited) that heartbeats every
// connection every interval.
func NewRegistry(max, maxPerIP int, interval time.Duration) *Registry {
	r := &Registry{
		max: max, maxPerIP: maxPerIP,
		conns: map[Conn]string{}, perIP: map[string]int{},
		empty: make(chan struct{}), stop: make(chan struct{}),
	}
	go r.heartbeats(interval)
	return r
}

// Add registers c from ip, or says which limit refuses it.
func (r *Registry) Add(c Conn, ip string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(ip); err != nil {
		return err
	}
	r.conns[c] = ip
	r.perIP[ip]++
	return nil
}

// Slot is a place held for a connection whose handshake is in flight.
type Slot struct{ ip string }

// Reserve holds a place for a connection from ip before it exists, so that a limit holds
// while handshakes are in flight (a client may open its next connection as soon as it sees
// the previous one's 101). Attach or Release it exactly once.
func (r *Registry) Reserve(ip string) (*Slot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(ip); err != nil {
		return nil, err
	}
	r.pending++
	r.perIP[ip]++
	return &Slot{ip: ip}, nil
}

// Attach puts c in its reserved slot. During a drain it refuses with ErrDraining, and the
// slot is released.
func (r *Registry) Attach(s *Slot, c Conn) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending--
	if r.draining {
		r.releaseLocked(s.ip)
		return ErrDraining
	}
	r.conns[c] = s.ip
	return nil
}

// Release gives back a slot whose connection never came to be.
func (r *Registry) Release(s *Slot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending--
	r.releaseLocked(s.ip)
}

func (r *Registry) releaseLocked(ip string) {
	if r.perIP[ip]--; r.perIP[ip] <= 0 {
		delete(r.perIP, ip)
	}
	r.signalEmpty()
}

// signalEmpty wakes a drain waiting for the last connection.
func (r *Registry) signalEmpty() {
	if r.draining && len(r.conns) == 0 && r.pending == 0 && !r.emptied {
		r.emptied = true
		close(r.empty)
	}
}

func (r *Registry) check(ip string) error {
	switch {
	case r.draining:
		metrics.Refused.WithLabelValues("draining").Inc()
		return ErrDraining
	case r.max > 0 && len(r.conns)+r.pending >= r.max:
		metrics.Refused.WithLabelValues("max_conns").Inc()
		return ErrTooManyConns
	case r.maxPerIP > 0 && r.perIP[ip] >= r.maxPerIP:
		metrics.Refused.WithLabelValues("max_conns_per_ip").Inc()
		return ErrTooManyFromIP
	}
	return nil
}

// Refuse answers a request refused by a registry limit: 503 while draining, else 429.
func Refuse(w http.ResponseWriter, err error) {
	status := http.StatusTooManyRequests
	if errors.Is(err, ErrDraining) {
		status = http.StatusServiceUnavailable
	}
	httpx.Error(w, status, err.Error())
}

// Remove forgets c.
func (r *Registry) Remove(c Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ip, ok := r.conns[c]
	if !ok {
		return
	}
	delete(r.conns, c)
	r.releaseLocked(ip)
}

// Len counts open connections.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// Counts are the open connections by app and transport, sorted; a connection that does not
// describe itself counts as app "other".
func (r *Registry) Counts() []Count {
	n := map[[2]string]int{}
	for _, c := range r.snapshot() {
		key := [2]string{"other", "other"}
		if d, ok := c.(Described); ok {
			key[0], key[1] = d.Describe()
		}
		n[key]++
	}
	out := make([]Count, 0, len(n))
	for k, v := range n {
		out = append(out, Count{App: k[0], Transport: k[1], N: v})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.Transport, b.Transport)) })
	return out
}

func (r *Registry) snapshot() []Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Conn, 0, len(r.conns))
	for c := range r.conns {
		out = append(out, c)
	}
	return out
}

func (r *Registry) heartbeats(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			for _, c := range r.snapshot() {
				c.Heartbeat()
			}
		}
	}
}

// Close refuses new connections and stops the heartbeats, leaving open ones as they are
// (Drain closes those); it is safe to call more than once.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.draining {
		r.draining = true
		close(r.stop)
		r.signalEmpty()
	}
}

// Drain refuses new connections, shuts every open one down and waits until all are gone or
// ctx ends; it then returns ctx's error.
func (r *Registry) Drain(ctx context.Context) error {
	r.Close()
	for _, c := range r.snapshot() {
		c.Shutdown()
	}
	select {
	case <-r.empty:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
