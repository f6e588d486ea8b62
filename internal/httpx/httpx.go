// Package httpx holds the HTTP helpers every app uses: the router apps register their routes
// on, JSON answers and errors, and bounded JSON body decoding.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Router registers an app's routes below its mount prefix on the shared mux, wrapping each
// handler with the server's per-route middleware (metrics by route pattern).
type Router struct {
	mux    *http.ServeMux
	prefix string
	wrap   func(route string, h http.Handler) http.Handler
	// Skipped are the patterns another app already served (the first mount keeps a path:
	// the counter's dev frontend keeps / from the streams' welcome text).
	Skipped []string
}

// NewRouter returns a router that mounts on mux below prefix.
func NewRouter(mux *http.ServeMux, prefix string, wrap func(route string, h http.Handler) http.Handler) *Router {
	if wrap == nil {
		wrap = func(_ string, h http.Handler) http.Handler { return h }
	}
	return &Router{mux: mux, prefix: prefix, wrap: wrap}
}

// Handle registers h for pattern ("GET /v1/ws"), below the router's prefix.
func (r *Router) Handle(pattern string, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	full := r.prefix + path
	if method != "" {
		full = method + " " + full
	}
	// A request the pattern matches, to ask the mux who serves it: wildcards filled in.
	probe := wildcard.ReplaceAllStringFunc(r.prefix+path, func(w string) string {
		if w == "{$}" {
			return ""
		}
		return "x"
	})
	if _, taken := r.mux.Handler(&http.Request{Method: method, URL: &url.URL{Path: probe}}); taken == full {
		r.Skipped = append(r.Skipped, full)
		return
	}
	r.mux.Handle(full, r.wrap(full, h))
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// HandleFunc registers f for pattern.
func (r *Router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	r.Handle(pattern, http.HandlerFunc(f))
}

// OriginAllowed returns the rule for browser origins: listed, or any when the list holds "*".
func OriginAllowed(origins []string) func(origin string) bool {
	anyOrigin := slices.Contains(origins, "*")
	return func(origin string) bool { return anyOrigin || slices.Contains(origins, origin) }
}

// OriginChecker allows WebSocket upgrades from the listed origins ("*" allows any) and from
// clients that send no Origin (non-browsers); every WebSocket endpoint of every app uses it.
func OriginChecker(origins []string) func(r *http.Request) bool {
	allowed := OriginAllowed(origins)
	return func(r *http.Request) bool {
		o := r.Header.Get("Origin")
		return o == "" || allowed(o)
	}
}

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	RawJSON(w, status, b)
}

// RawJSON writes b, a JSON value encoded by the caller, with status, as JSON does.
func RawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Error writes {"error": msg} with status.
func Error(w http.ResponseWriter, status int, msg string) {
	JSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

// Internal answers a failure the client cannot fix (a store error) with a 500 that tells
// nothing of it, and logs the cause with the route; msg replaces "internal server error"
// where an original server worded it otherwise.
func Internal(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, msg ...string) {
	log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	text := "internal server error"
	if len(msg) > 0 {
		text = msg[0]
	}
	Error(w, http.StatusInternalServerError, text)
}

// DecodeError is a request body that could not be decoded; Status says how to answer.
type DecodeError struct {
	Status int
	Msg    string
}

func (e *DecodeError) Error() string { return e.Msg }

// Decode reads a JSON body of at most limit bytes into v, whatever the Content-Type says (curl
// sends form encoding by default). Unknown fields are refused, so a misspelt field is an error
// rather than silently ignored.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return &DecodeError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit)}
		case errors.Is(err, io.EOF):
			return &DecodeError{http.StatusBadRequest, "body is empty"}
		case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
			return &DecodeError{http.StatusBadRequest, "body is not valid JSON"}
		case errors.As(err, &te):
			return &DecodeError{http.StatusBadRequest, fmt.Sprintf("field %q must be %s", te.Field, te.Type)}
		default:
			return &DecodeError{http.StatusBadRequest, "bad body: " + err.Error()}
		}
	}
	if dec.More() {
		return &DecodeError{http.StatusBadRequest, "body holds more than one JSON value"}
	}
	return nil
}

// DecodeOrFail decodes like Decode and, on failure, answers w itself; it reports success.
func DecodeOrFail(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	err := Decode(w, r, limit, v)
	if err == nil {
		return true
	}
	var de *DecodeError
	if errors.As(err, &de) {
		Error(w, de.Status, de.Msg)
	} else {
		Error(w, http.StatusBadRequest, err.Error())
	}
	return false
}

type clientIPKey struct{}

// WithClientIP records the client address the server resolved for a request.
func WithClientIP(r *http.Request, ip string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), clientIPKey{}, ip))
}

// ClientIP returns the address a request came from: the one the server resolved (through
// trusted proxies), or else the TCP peer.
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	return PeerIP(r)
}

// PeerIP returns the TCP peer's address.
func PeerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ResolveClientIP returns the client address of r: the TCP peer, unless the peer is a trusted
// proxy, in which case the rightmost X-Forwarded-For hop that is not itself a trusted proxy
// (hops to its left could be forged by the client).
func ResolveClientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := PeerIP(r)
	if len(trusted) == 0 || !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(hop)
		if err != nil {
			break // a malformed hop: trust nothing further left
		}
		if !isTrusted(hop, trusted) {
			return a.Unmap().String()
		}
	}
	return peer
}

func isTrusted(ip string, trusted []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// FromThisMachine reports whether r comes straight from loopback, not through a proxy that
// could be relaying anyone (no X-Forwarded-For or Forwarded header): what a dev-only door
// (the console without a password, the streams' stand-in sign-in) is open to.
func FromThisMachine(r *http.Request) bool {
	ip, err := netip.ParseAddr(PeerIP(r))
	if err != nil || !ip.Unmap().IsLoopback() {
		return false
	}
	return r.Header.Get("X-Forwarded-For") == "" && r.Header.Get("Forwarded") == ""
}
