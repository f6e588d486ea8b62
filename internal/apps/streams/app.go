// Package streams is the api.twizzle.net-compatible broadcast surface
// (../shared/specs/twizzle-and-keenchat.md part A): a signed-in sender streams puzzle moves
// over a WebSocket to any number of viewers; users sign in with an OAuth2 provider (the World
// Cube Association by default) and exchange a one-time claim token for an access token.
//
// Fan-out goes through the hub (one hub channel per stream), so a sender reaches viewers on
// every node; streams, users, tokens and claims are in the store. Decisions on the original's
// quirks (spec A6, A11), by what its clients need:
//   - a sender's own messages are not echoed back to that socket (no client uses the echo);
//     other sockets of the same sender still get them;
//   - the first reset of a stream is relayed and kept (the original dropped it); a reset equal
//     to the sender's previous message is still dropped (the original's loop guard);
//   - viewers may send anything, pings included, without being cut off; what they send is
//     ignored;
//   - every relayed object still gets timestampUnixMS and timestampHuman; non-objects are
//     dropped;
//   - the server pings every socket and drops a dead one, so a vanished sender no longer
//     keeps its stream alive forever;
//   - frames are capped (max_frame_bytes), senders rate-limited, streams per user capped, and
//     anonymous stream creation is off unless configured;
//   - a login callback that carries a state must match the one /v0/auth/wca/start bound to
//     the browser (login CSRF); a state-less one (the web app's own link) is accepted unless
//     require_state is on; claim tokens expire and work once; access tokens are hashed at rest, expire, and
//     POST /v0/auth/logout revokes one.
package streams

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/module"
	"github.com/switchboard/switchboard/internal/server"
	"github.com/switchboard/switchboard/internal/transport/ws"
)

// App serves the streams surface.
type App struct {
	cfg      Config
	provider OAuthProvider
	oauth    *oauth2.Config
	client   *http.Client // to the provider
	db       db
	hub      *hub.Hub
	log      *slog.Logger
	ws       *ws.Server
	now      func() time.Time
	started  time.Time

	ends *hub.Subscription // the control channel that ends streams

	mu    sync.Mutex
	local map[string]map[*peer]struct{} // stream id → this node's sockets

	// node names this process's viewer counts in the store (streams_viewers); viewersStored
	// says it has some there. Only the sweep touches viewersStored.
	node          string
	viewersStored bool
}

// New builds the streams of d's configuration and its OAuth client.
func New(d module.Deps) (*App, error) {
	cfg, h, log := d.Config, d.Hub, d.Log
	c := *Settings(cfg)
	p, err := c.Provider.Resolved()
	if err != nil {
		return nil, err
	}
	a := &App{
		cfg: c, provider: p, db: db{d.Store}, hub: h, log: log.With("app", "streams"), now: time.Now, started: time.Now(),
		client: &http.Client{Timeout: 10 * time.Second}, local: map[string]map[*peer]struct{}{},
		node: randomID("node_", 8),
	}
	if p.ClientID != "" {
		a.oauth = &oauth2.Config{
			ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: p.RedirectURI,
			Endpoint: oauth2.Endpoint{AuthURL: p.AuthorizeURL, TokenURL: p.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		}
		if p.Scope != "" {
			a.oauth.Scopes = []string{p.Scope}
		}
	} else {
		a.log.Info("streams: no OAuth client_id configured; sign-in is off")
	}
	l := cfg.Limits
	a.ws = ws.NewServer(ws.Options{
		App:       Name,
		ReadLimit: c.MaxFrameBytes, QueueBytes: l.QueueBytes, WriteTimeout: l.WriteTimeout.D(),
		ReadTimeout: l.PingInterval.D() + l.PongTimeout.D(), Binary: true, Registry: d.Registry,
		// The original checked no Origin; any page could then act with a viewer's token.
		CheckOrigin: httpx.OriginChecker(cfg.CORSOrigins),
	})
	d.Views.Register(Name, view{a})
	return a, nil
}

// Start migrates the tables and listens for streams that other nodes end.
func (a *App) Start(ctx context.Context) error {
	if err := a.db.Migrate(ctx, "streams", migrations); err != nil {
		return err
	}
	if a.devSignin() {
		a.log.Info("no OAuth client configured: sign-in is off, except the stand-in sign-in for browsers on this machine (apps.streams.dev_signin)")
	}
	return a.watchEnds(ctx)
}

// Mounts is the streams at their prefix.
func (a *App) Mounts() []server.Mount { return []server.Mount{{App: a, Prefix: a.cfg.Prefix}} }

// Name is the app's name in config and logs.
func (*App) Name() string { return "streams" }

func (a *App) ms() int64 { return a.now().UnixMilli() }

// Routes mounts twizzle's paths.
func (a *App) Routes(r *httpx.Router) {
	// The root text: when the counter's dev mode serves its frontend at the same root, it is
	// mounted first and keeps / (the router skips a pattern already served).
	r.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Welcome to api.twizzle.net\nSee https://github.com/cubing/api.twizzle.net for more info."))
	})
	r.HandleFunc("GET /v0/infra/liveness_check", a.liveness)
	r.HandleFunc("GET /v0/streams", a.listStreams)
	r.HandleFunc("POST /v0/streams", a.createStream)
	r.HandleFunc("GET /v0/streams/{id}/socket", a.socket)
	r.HandleFunc("GET /v0/auth/wca/start", a.startLogin)
	r.HandleFunc("GET /v0/auth/wca/oauth_callback", a.callback)
	r.HandleFunc("POST /v0/claim", a.claim)
	r.HandleFunc("POST /v0/auth/logout", a.logout)
	r.HandleFunc("POST /v0/auth/dev/claim", a.devClaim)
}

// jsDate is what JavaScript's Date#toString() prints for t in UTC, the zone the original ran
// in (Node names it "Coordinated Universal Time"; Go has no long zone names to match others).
func jsDate(t time.Time) string {
	return t.UTC().Format("Mon Jan 02 2006 15:04:05") + " GMT+0000 (Coordinated Universal Time)"
}

func (a *App) liveness(w http.ResponseWriter, _ *http.Request) {
	// The original pretty-printed this one answer with two spaces.
	b, _ := json.MarshalIndent(struct {
		Start      int64  `json:"startTimestamp"`
		StartHuman string `json:"startTimestampHuman"`
		Uptime     int64  `json:"uptimeSeconds"`
	}{a.started.UnixMilli(), jsDate(a.started), int64(a.now().Sub(a.started) / time.Second)}, "", "  ")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(b)
}

func (a *App) internal(w http.ResponseWriter, r *http.Request, err error) {
	httpx.Internal(w, r, a.log, err)
}

// streamInfo is a stream as the API shows it: senders is an array (the README was wrong).
type streamInfo struct {
	StreamID string     `json:"streamID"`
	Senders  []UserInfo `json:"senders"`
}

func info(s stream) streamInfo {
	out := streamInfo{StreamID: s.ID, Senders: []UserInfo{}}
	if s.Owner != nil {
		out.Senders = append(out.Senders, *s.Owner)
	}
	return out
}

func (a *App) listStreams(w http.ResponseWriter, r *http.Request) {
	list, err := a.db.streams(r.Context(), "")
	if err != nil {
		a.internal(w, r, err)
		return
	}
	out := make([]streamInfo, len(list))
	for i, s := range list {
		out[i] = info(s)
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"streams": out})
}

// tokenUser resolves ?twizzleAccessToken=; present is false when none was given.
func (a *App) tokenUser(r *http.Request) (user string, present bool, err error) {
	t := r.URL.Query().Get("twizzleAccessToken")
	if t == "" {
		return "", false, nil
	}
	if len(t) > 128 {
		return "", true, errNotFound
	}
	user, err = a.db.tokenUser(r.Context(), t, a.ms())
	return user, true, err
}

const errBadToken = "invalid twizzle access token"

// caller resolves the request's token, answering a bad one (401) or a store failure itself;
// user is "" when no token was given.
func (a *App) caller(w http.ResponseWriter, r *http.Request) (user string, ok bool) {
	user, present, err := a.tokenUser(r)
	switch {
	case present && err == errNotFound:
		httpx.Error(w, http.StatusUnauthorized, errBadToken)
		return "", false
	case err != nil:
		a.internal(w, r, err)
		return "", false
	}
	return user, true
}

func (a *App) createStream(w http.ResponseWriter, r *http.Request) {
	user, ok := a.caller(w, r)
	if !ok {
		return
	}
	if user == "" && !a.cfg.AnonymousStreams {
		httpx.Error(w, http.StatusUnauthorized, "a twizzleAccessToken is required to create a stream")
		return
	}
	id, err := a.db.createStream(r.Context(), user, a.cfg.MaxStreamsPerUser, a.ms())
	if err == errTooMany {
		httpx.Error(w, http.StatusTooManyRequests, "too many streams; at most "+itoa(int64(a.cfg.MaxStreamsPerUser))+" per user")
		return
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	list, err := a.db.streams(r.Context(), id)
	if err != nil || len(list) == 0 {
		a.internal(w, r, err)
		return
	}
	a.log.Info("stream created", "stream", id, "user", user)
	httpx.JSON(w, http.StatusOK, map[string]any{"stream": info(list[0])})
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	t := r.URL.Query().Get("twizzleAccessToken")
	ok, err := a.db.deleteToken(r.Context(), t)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if t == "" || !ok {
		httpx.Error(w, http.StatusUnauthorized, errBadToken)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]bool{"success": true})
}

// Run ends streams whose sender has been gone for stream_timeout, keeps this node's senders
// marked alive and its viewer counts stored, and drops expired claims and tokens, until ctx
// ends; then it removes this node's viewer counts.
func (a *App) Run(ctx context.Context) {
	t := time.NewTicker(a.period())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if a.ends != nil {
				a.hub.Unsubscribe(context.Background(), a.ends)
			}
			if a.viewersStored {
				// This node's viewers leave with it; were it killed, its rows would go stale.
				stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				if err := a.db.setViewers(stop, a.node, nil, a.ms()); err != nil {
					a.log.Warn("forget this node's viewers", "err", err)
				}
				cancel()
			}
			return
		case <-t.C:
			a.sweep(ctx)
		}
	}
}

// period is the sweep's: a quarter of stream_timeout, within 50 ms to 30 s.
func (a *App) period() time.Duration {
	return min(30*time.Second, max(a.cfg.StreamTimeout.D()/4, 50*time.Millisecond))
}

// staleBefore is when a node's last refresh of its senders and viewers must be after for
// it to count as alive: three sweeps and a second ago.
func (a *App) staleBefore(now int64) int64 { return now - 3*a.period().Milliseconds() - 1000 }

func (a *App) sweep(ctx context.Context) {
	now := a.ms()
	senders, viewers := a.localPeers()
	if err := a.db.touchSenders(ctx, senders, now); err != nil {
		a.log.Warn("refresh senders", "err", err)
	}
	if len(viewers) > 0 || a.viewersStored {
		if err := a.db.setViewers(ctx, a.node, viewers, now); err != nil {
			a.log.Warn("store this node's viewer counts", "err", err)
		} else {
			a.viewersStored = len(viewers) > 0
		}
	}
	ended, err := a.db.expire(ctx, now, a.staleBefore(now), now-a.cfg.StreamTimeout.D().Milliseconds())
	if err != nil {
		a.log.Warn("expire streams", "err", err)
		return
	}
	for _, id := range ended {
		a.log.Info("stream ended: no sender", "stream", id, "after", a.cfg.StreamTimeout.D())
		a.announceEnd(ctx, id)
	}
}
