// Package native is Switchboard's own pub/sub API under /v1: a WebSocket command protocol,
// Server-Sent Events and an HTTP server API, all over the shared hub. docs/protocol.md is its
// specification.
package native

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"log/slog"
	"time"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/module"
	"github.com/switchboard/switchboard/internal/pubsub"
	"github.com/switchboard/switchboard/internal/server"
	"github.com/switchboard/switchboard/internal/transport/sse"
	"github.com/switchboard/switchboard/internal/transport/ws"
)

// App serves the native API.
type App struct {
	hub      *hub.Hub
	cfg      config.Config
	limits   config.Limits
	rules    *rules
	tokens   *auth.Verifier
	apiKey   *auth.KeyChecker
	log      *slog.Logger
	version  string
	wsServer *ws.Server
	sseOpts  *sse.Options
}

// New builds the native app of d's configuration.
func New(d module.Deps) (*App, error) {
	cfg, reg := d.Config, d.Registry
	l := cfg.Limits
	a := &App{
		hub: d.Hub, cfg: cfg, limits: l, log: d.Log, version: d.Version,
		rules:  newRules(cfg.Namespaces, l.MaxChannelNameLength),
		tokens: auth.NewVerifier(cfg.TokenHMACSecret),
		apiKey: auth.NewKeyChecker(cfg.APIKey),
	}
	a.wsServer = ws.NewServer(ws.Options{
		App:           Name,
		ReadLimit:     l.MaxMessageBytes,
		QueueBytes:    l.QueueBytes,
		WriteTimeout:  l.WriteTimeout.D(),
		WriteDelay:    l.WriteDelay.D(),
		ReadTimeout:   l.PingInterval.D() + l.PongTimeout.D(),
		Batch:         true,
		Ping:          pingPush,
		SlowCloseCode: DisconnectSlow,
		Goodbye:       disconnectPush(DisconnectShutdown, "server shutting down", true),
		Registry:      reg,
		CheckOrigin:   httpx.OriginChecker(cfg.CORSOrigins),
	})
	a.sseOpts = &sse.Options{
		App:          Name,
		QueueBytes:   l.QueueBytes,
		WriteTimeout: l.WriteTimeout.D(),
		MaxLifetime:  l.SSEMaxLifetime.D(),
		Goodbye:      sse.Format("", "disconnect", disconnectPush(DisconnectShutdown, "server shutting down", true)),
		Registry:     reg,
	}
	return a, nil
}

// Start has nothing to do: the native API keeps no tables of its own.
func (*App) Start(context.Context) error { return nil }

// Run has no background work: the hub and the registry do it.
func (*App) Run(context.Context) {}

// Mounts is the native API at its prefix.
func (a *App) Mounts() []server.Mount {
	return []server.Mount{{App: a, Prefix: Settings(a.cfg).Prefix}}
}

// Name is the app's name in config and logs.
func (a *App) Name() string { return "native" }

// Routes mounts the native API.
func (a *App) Routes(r *httpx.Router) {
	r.HandleFunc("GET /v1/ws", a.serveWS)
	r.HandleFunc("GET /v1/sse", a.serveSSE)
	r.HandleFunc("POST /v1/api/publish", a.apiPublish)
	r.HandleFunc("POST /v1/api/history", a.apiHistory)
	r.HandleFunc("POST /v1/api/presence", a.apiPresence)
	r.HandleFunc("POST /v1/api/presence_stats", a.apiPresenceStats)
	r.HandleFunc("GET /v1/api/channels", a.apiChannels)
	r.HandleFunc("POST /v1/api/disconnect", a.apiDisconnect)
	r.Handle("GET /v1/client.js", httpx.Asset("client.js", clientJS))
}

// clientJS is the JavaScript client of the native protocol (docs/protocol.md, "JavaScript
// client"), served at /v1/client.js.
//
//go:embed client/switchboard.js
var clientJS []byte

// session is who a client is, as its token (or its absence) says.
type session struct {
	identity
	info    *pubsub.ClientInfo
	expires time.Time // zero: never
}

// errTokenRequired refuses an anonymous client when allow_anonymous is off.
var errTokenRequired = errors.New("a token is required")

// authenticate reads a connection token; "" is an anonymous client. Errors are
// auth.ErrTokenExpired, auth.ErrTokenInvalid, auth.ErrNoSecret or errTokenRequired; each
// transport answers them in its own way.
func (a *App) authenticate(token, clientID string) (session, error) {
	s := session{info: &pubsub.ClientInfo{Client: clientID}}
	if token == "" {
		if !a.cfg.AllowAnonymous {
			return s, errTokenRequired
		}
		return s, nil
	}
	claims, err := a.tokens.Verify(token)
	if err != nil {
		return s, err
	}
	s.identity = identity{user: claims.Subject, channels: claims.Channels}
	s.info.User, s.info.Info = claims.Subject, claims.Info
	if claims.ExpiresAt != nil {
		s.expires = claims.ExpiresAt.Time
	}
	return s, nil
}

// newClientID returns 128 random bits, URL-safe.
func newClientID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// pingSeconds is what clients are told about the server's ping period.
func (a *App) pingSeconds() int { return int(a.limits.PingInterval.D() / time.Second) }
