// Package server runs Switchboard's HTTP server: it mounts each app at its prefix behind the
// shared middleware, serves /healthz, /readyz and /metrics, and drains on shutdown.
//
// Lifecycle: New (build, mount) → Serve (accept until the context ends) → drain: readiness
// turns 503 while the node keeps serving for DrainDelay (a load balancer takes it out of
// rotation meanwhile), then every connection is told goodbye in its app's own way, flushed
// and closed (WebSocket 1001, an SSE disconnect event, a socket.io transport close), then the
// listeners close and in-flight requests finish, all within ShutdownTimeout.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/broker"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/metrics"
	"github.com/switchboard/switchboard/internal/store"
	"github.com/switchboard/switchboard/internal/transport"
)

// App is one surface: it registers its routes below its prefix.
type App interface {
	Name() string
	Routes(r *httpx.Router)
}

// Mount pairs an app with where it is mounted.
type Mount struct {
	App    App
	Prefix string
	// Announce, when set, is a path under Prefix whose URL the node logs when it listens (the
	// console's page).
	Announce string
}

// Server is the HTTP front of one node.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	store    *store.DB
	broker   broker.Broker
	registry *transport.Registry
	handler  http.Handler
	draining atomic.Bool
	version  string
	// limiter is shared by every listener, so a client's rate is one budget.
	limitOnce sync.Once
	limiter   *httpx.IPLimiter
	// announce are the paths whose URLs are logged on listening (Mount.Announce).
	announce []string
	// skipDelay ends the drain delay early (SkipDrainDelay).
	skipOnce  sync.Once
	skipDelay chan struct{}
}

// Listener is an extra listener of the node, with its own handler (keenchat's socket.io
// port); it opens and drains with the main one.
type Listener struct {
	Name     string
	Listener net.Listener
	Handler  http.Handler
}

// New builds the server and mounts apps.
func New(cfg config.Config, log *slog.Logger, db *store.DB, b broker.Broker, reg *transport.Registry, version string, mounts ...Mount) *Server {
	s := &Server{cfg: cfg, log: log, store: db, broker: b, registry: reg, version: version, skipDelay: make(chan struct{})}
	mux := http.NewServeMux()
	wrap := named
	ops := httpx.NewRouter(mux, "", wrap)
	ops.HandleFunc("GET /healthz", s.healthz)
	ops.HandleFunc("GET /readyz", s.readyz)
	ops.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	if cfg.Pprof {
		// Profiles, which are the first thing asked for when a leak is reported.
		ops.HandleFunc("GET /debug/pprof/", pprof.Index)
		ops.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		ops.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	for _, m := range mounts {
		r := httpx.NewRouter(mux, m.Prefix, wrap)
		m.App.Routes(r)
		log.Info("mounted", "app", m.App.Name(), "prefix", m.Prefix)
		if m.Announce != "" {
			s.announce = append(s.announce, m.Prefix+m.Announce)
		}
		for _, p := range r.Skipped {
			log.Info("route served by an earlier mount", "app", m.App.Name(), "route", p)
		}
	}
	unmatched := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, _ := mux.Handler(r)
		h.ServeHTTP(&jsonStatusWriter{ResponseWriter: w}, r)
	})
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux answers unknown paths (404) and wrong methods (405, with Allow) in plain
		// text; turn those into JSON errors.
		if _, pattern := mux.Handler(r); pattern == "" {
			unmatched.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	s.handler = s.Wrap(h)
	return s
}

// Wrap puts the server's middleware (access log and metrics, recovery, CORS, rate and body
// limits) around h: every listener of the node answers alike.
func (s *Server) Wrap(h http.Handler) http.Handler {
	h = bodyLimit(s.cfg.Limits.MaxBodyBytes, h)
	if s.cfg.Limits.HTTPRate > 0 {
		s.limitOnce.Do(func() { s.limiter = httpx.NewIPLimiter(s.cfg.Limits.HTTPRate, s.cfg.Limits.HTTPBurst) })
		h = rateLimit(s.limiter, auth.NewKeyChecker(s.cfg.APIKey), h)
	}
	h = cors(s.cfg.CORSOrigins, h)
	// Validate has checked the list.
	trusted, _ := config.ParsePrefixes(s.cfg.TrustedProxies)
	return observe(s.log, trusted, h)
}

// Handler returns the root handler (tests serve it with httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// jsonStatusWriter replaces the mux's plain-text error body with a JSON one.
type jsonStatusWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *jsonStatusWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	msg := "no such route"
	if code == http.StatusMethodNotAllowed {
		msg = "method not allowed"
	}
	w.ResponseWriter.Header().Del("X-Content-Type-Options")
	httpx.Error(w.ResponseWriter, code, msg)
}

func (w *jsonStatusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return len(b), nil // the plain-text body is dropped
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	httpx.JSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.version})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		httpx.Error(w, http.StatusServiceUnavailable, "draining")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"store": "ok", "broker": "ok"}
	status := http.StatusOK
	if err := s.store.Ping(ctx); err != nil {
		checks["store"], status = err.Error(), http.StatusServiceUnavailable
	}
	if err := s.broker.Ping(ctx); err != nil {
		checks["broker"], status = err.Error(), http.StatusServiceUnavailable
	}
	httpx.JSON(w, status, checks)
}

// SkipDrainDelay makes a drain (under way or to come) skip its delay: for Ctrl-C, a second
// signal, or tests.
func (s *Server) SkipDrainDelay() { s.skipOnce.Do(func() { close(s.skipDelay) }) }

// Serve accepts on ln, and on each extra listener with its handler (behind the same
// middleware), until ctx ends, then drains. It returns nil after a clean drain.
func (s *Server) Serve(ctx context.Context, ln net.Listener, extra ...Listener) error {
	all := append([]Listener{{Name: "main", Listener: ln, Handler: s.handler}}, extra...)
	servers := make([]*http.Server, len(all))
	errc := make(chan error, len(all))
	for i, l := range all {
		h := l.Handler
		if i > 0 {
			h = s.Wrap(h)
		}
		servers[i] = &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		go func() { errc <- servers[i].Serve(l.Listener) }()
		if i == 0 {
			s.log.Info("listening", "addr", l.Listener.Addr().String(), "version", s.version)
			for _, p := range s.announce {
				s.log.Info("open in a browser", "url", browserURL(l.Listener.Addr(), p))
			}
		} else {
			s.log.Info("listening", "addr", l.Listener.Addr().String(), "for", l.Name)
		}
	}
	select {
	case err := <-errc:
		for _, srv := range servers {
			_ = srv.Close()
		}
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	return s.drain(servers, errc)
}

func (s *Server) drain(servers []*http.Server, errc <-chan error) error {
	s.draining.Store(true)
	if d := s.cfg.DrainDelay.D(); d > 0 {
		s.log.Info("draining: /readyz answers 503, still serving", "for", d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.skipDelay:
			t.Stop()
		}
	}
	timeout := s.cfg.ShutdownTimeout.D()
	s.log.Info("draining", "connections", s.registry.Len(), "timeout", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// First every realtime connection is told goodbye, flushed and closed, while the
	// listeners still accept: a long-polling client needs one more request to fetch its
	// goodbye and its transport's close (new realtime connections are refused meanwhile).
	// Then Shutdown closes the listeners and waits for plain requests; it knows nothing of
	// hijacked WebSockets and would wait forever on SSE streams, hence the registry.
	var errs []error
	if err := s.registry.Drain(ctx); err != nil {
		errs = append(errs, fmt.Errorf("connections still open after %s: %w", timeout, err))
	}
	shut := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { shut <- srv.Shutdown(ctx) }()
	}
	for range servers {
		if err := <-shut; err != nil {
			errs = append(errs, fmt.Errorf("requests still running after %s: %w", timeout, err))
		}
	}
	if len(errs) > 0 {
		for _, srv := range servers {
			_ = srv.Close()
		}
	}
	for range servers {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	s.log.Info("drained", "left", s.registry.Len())
	return errors.Join(errs...)
}

// browserURL is path on addr as a browser on this machine reaches it: a wildcard address
// (":8080", "[::]:8080") is reached at 127.0.0.1.
func browserURL(addr net.Addr, path string) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + path
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path
}
