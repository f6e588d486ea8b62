package server

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/metrics"
)

// recorder captures the status for logs and metrics, and passes Hijack and Flush through so
// WebSocket and SSE handlers work behind the middleware.
type recorder struct {
	http.ResponseWriter
	route    string
	status   int
	bytes    int
	hijacked bool
	streamed bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

func (r *recorder) Flush() {
	r.streamed = true
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijack not supported")
	}
	r.hijacked = true
	r.status = http.StatusSwitchingProtocols
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer (write deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// observe is the outermost layer, so every answer (a 429 or 413 from a limit, a CORS
// preflight, a 404) gets a request id, a log line and a latency sample, and a panic anywhere
// below becomes a JSON 500. The route label is set by the matched route (named); upgraded and
// streamed requests are kept out of the latency histogram, since their "latency" is the life
// of the connection.
func observe(log *slog.Logger, trusted []netip.Prefix, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r = httpx.WithClientIP(r, httpx.ResolveClientIP(r, trusted))
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		rec := &recorder{ResponseWriter: w, route: "unmatched"}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic in handler", "route", rec.route, "request_id", id, "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					httpx.Error(rec, http.StatusInternalServerError, "internal server error")
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			if !rec.hijacked && !rec.streamed {
				metrics.HTTPDuration.WithLabelValues(rec.route, strconv.Itoa(status)).Observe(d.Seconds())
			}
			log.Info("http", "method", r.Method, "path", r.URL.Path, "route", rec.route, "status", status,
				"bytes", rec.bytes, "dur", d, "ip", httpx.ClientIP(r), "request_id", id)
		}()
		h.ServeHTTP(rec, r)
	})
}

// named labels the request with its route pattern for observe.
func named(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec, ok := w.(*recorder); ok {
			rec.route = route
		}
		h.ServeHTTP(w, r)
	})
}

// cors answers preflights and sets CORS headers for allowed origins.
func cors(origins []string, next http.Handler) http.Handler {
	allowed := httpx.OriginAllowed(origins)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && allowed(origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Credentials", "true")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
				if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
					h.Set("Access-Control-Allow-Headers", rh)
				}
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// rateLimit limits requests per client IP. Requests with the server API key are exempt: a
// backend publishing at a high rate from one address is the API's purpose.
func rateLimit(l *httpx.IPLimiter, key *auth.KeyChecker, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := auth.PresentedKey(r); k != "" && key.Match(k) {
			next.ServeHTTP(w, r)
			return
		}
		if !l.Allow(httpx.ClientIP(r)) {
			metrics.Refused.WithLabelValues("http_rate").Inc()
			w.Header().Set("Retry-After", "1")
			httpx.Error(w, http.StatusTooManyRequests, "too many requests")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bodyLimit caps every request body; handlers that decode JSON set tighter limits themselves.
func bodyLimit(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			httpx.Error(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(limit, 10)+" bytes")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}
