// Package console is the node's console: a live view of the server in a browser (connections,
// channels, rates), and a place to try the native API, served from the binary. Its feed is
// an SSE stream of the node's own figures; its channel tail is the native API through the
// JavaScript client (/v1/client.js).
//
// Access: an admin signs in with the console password or the node's API key and gets a
// session cookie (HttpOnly, SameSite=Strict; only its hash is stored). With neither secret
// configured, the console is read-only to browsers on this machine and off elsewhere.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/apps/native"
	"github.com/switchboard/switchboard/internal/apps/signal"
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/module"
	"github.com/switchboard/switchboard/internal/server"
	"github.com/switchboard/switchboard/internal/store"
	"github.com/switchboard/switchboard/internal/transport"
	"github.com/switchboard/switchboard/internal/transport/sse"
)

//go:embed web
var webFS embed.FS

// App is the console.
type App struct {
	cfg     Config
	node    config.Config
	hub     *hub.Hub
	db      *store.DB
	reg     *transport.Registry
	log     *slog.Logger
	version string
	started time.Time
	admin   *native.Admin
	views   *module.Views
	// keys are the secrets that sign an admin in (the password, the API key); none: read-only
	// on loopback.
	keys    []*auth.KeyChecker
	logins  *httpx.IPLimiter
	feedOpt *sse.Options
	stats   *sampler
}

var migrations = []store.Migration{{Version: 1, SQL: `CREATE TABLE console_session (
	hash TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL)`}}

// New builds the console of d's configuration.
func New(d module.Deps) (*App, error) {
	c := *Settings(d.Config)
	admin, err := native.NewAdmin(d)
	if err != nil {
		return nil, err
	}
	a := &App{
		cfg: c, node: d.Config, hub: d.Hub, db: d.Store, reg: d.Registry, log: d.Log.With("app", Name),
		version: d.Version, started: time.Now(), admin: admin, views: d.Views,
		logins: httpx.NewIPLimiter(c.LoginRate/60, max(1, int(c.LoginRate))),
	}
	for _, k := range []string{c.Password, d.Config.APIKey} {
		if k != "" {
			a.keys = append(a.keys, auth.NewKeyChecker(k))
		}
	}
	l := d.Config.Limits
	a.feedOpt = &sse.Options{App: Name, QueueBytes: l.QueueBytes, WriteTimeout: l.WriteTimeout.D(), MaxLifetime: l.SSEMaxLifetime.D(), Registry: d.Registry}
	a.stats = newSampler(a)
	return a, nil
}

// Start creates the session table.
func (a *App) Start(ctx context.Context) error { return a.db.Migrate(ctx, Name, migrations) }

// Run samples the node's figures once a second, and forgets expired sessions, until ctx ends.
func (a *App) Run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a.stats.sample()
		if n%3600 == 0 {
			if _, err := a.db.Exec(ctx, `DELETE FROM console_session WHERE expires_at < $1`, time.Now().Unix()); err != nil {
				a.log.Warn("forget expired console sessions", "err", err)
			}
		}
	}
}

// Mounts is the console at its prefix; the node prints its address when it starts.
func (a *App) Mounts() []server.Mount {
	return []server.Mount{{App: a, Prefix: a.cfg.Prefix, Announce: "/"}}
}

// Name is the app's name in config and logs.
func (*App) Name() string { return Name }

// Routes mounts the page, its files and its API.
func (a *App) Routes(r *httpx.Router) {
	web, _ := fs.Sub(webFS, "web")
	index, _ := fs.ReadFile(web, "index.html")
	// The pages tell everyone what the console is and why it may be off; only the API behind
	// them is guarded.
	r.Handle("GET /{$}", withCSP(httpx.Asset("index.html", index)))
	r.Handle("GET /", withCSP(httpx.Assets(web, a.cfg.Prefix+"/")))
	r.HandleFunc("GET /api/session", a.session)
	r.HandleFunc("POST /api/login", a.login)
	r.HandleFunc("POST /api/logout", a.logout)
	r.HandleFunc("GET /api/feed", a.guard(read, a.feed))
	r.HandleFunc("GET /api/channels", a.guard(read, a.channels))
	r.HandleFunc("GET /api/channel", a.guard(read, a.channel))
	r.HandleFunc("GET /api/token", a.guard(read, a.token))
	r.HandleFunc("POST /api/publish", a.guard(write, a.publish))
	r.HandleFunc("GET /api/apps", a.guard(read, a.apps))
	r.HandleFunc("GET /api/app/{name}/feed", a.guard(read, a.appFeed))
	r.HandleFunc("POST /api/app/{name}/{action}", a.guard(write, a.appAction))
}

// level is what a request may do.
type level int

const (
	none  level = iota
	read        // figures, channels, tails
	write       // publish, and every other action
)

const cookieName = "sb_console"

// access says what r may do, and why not more.
func (a *App) access(r *http.Request) (level, string) {
	if len(a.keys) == 0 {
		if httpx.FromThisMachine(r) {
			return read, "read-only: no console password or api_key is set, so the console is open to this machine only, and only to look"
		}
		return none, "the console is off to other machines until a password is set (apps.console.password, or api_key)"
	}
	if c, err := r.Cookie(cookieName); err == nil && a.validSession(r.Context(), c.Value) {
		return write, ""
	}
	return none, "sign in with the console password or the API key"
}

// guard answers 401/403 unless r may do at least need.
func (a *App) guard(need level, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, why := a.access(r)
		if got >= need {
			if need == write && r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				// A cross-site form cannot send JSON without a preflight: with the SameSite
				// cookie, a second guard against request forgery.
				httpx.Error(w, http.StatusUnsupportedMediaType, "send application/json")
				return
			}
			h(w, r)
			return
		}
		status := http.StatusUnauthorized
		if len(a.keys) == 0 || got == read {
			status = http.StatusForbidden
			if got == read {
				why = "read-only: set a console password to publish from the console"
			}
		}
		httpx.Error(w, status, why)
	}
}

func (a *App) session(w http.ResponseWriter, r *http.Request) {
	lvl, why := a.access(r)
	mode := map[level]string{none: "signin", read: "readonly", write: "admin"}[lvl]
	if lvl == none && len(a.keys) == 0 {
		mode = "off"
	}
	prefixes := map[string]string{}
	for name, sec := range a.node.Apps {
		if p, ok := sec.(interface{ MountPrefix() (string, bool) }); ok {
			if prefix, on := p.MountPrefix(); on {
				prefixes[name] = prefix
			}
		}
	}
	if sig := signal.Settings(a.node); sig != nil && sig.V4.Enabled {
		prefixes["signal.v4"] = sig.V4.Prefix
	}
	httpx.JSON(w, http.StatusOK, map[string]any{
		"mode": mode, "reason": why, "version": a.version, "native_prefix": native.Settings(a.node).Prefix, "prefixes": prefixes,
	})
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	if len(a.keys) == 0 {
		httpx.Error(w, http.StatusForbidden, "no console password or api_key is set: there is nothing to sign in with")
		return
	}
	if !a.logins.Allow(httpx.ClientIP(r)) {
		w.Header().Set("Retry-After", "60")
		httpx.Error(w, http.StatusTooManyRequests, "too many sign-in attempts; wait a minute")
		return
	}
	var p struct {
		Password string `json:"password"`
	}
	if !httpx.DecodeOrFail(w, r, 4096, &p) {
		return
	}
	ok := false
	for _, k := range a.keys {
		ok = k.Match(p.Password) || ok // every key is compared, in constant time
	}
	if !ok {
		a.log.Info("console sign-in refused", "ip", httpx.ClientIP(r))
		httpx.Error(w, http.StatusUnauthorized, "wrong password")
		return
	}
	token, hash := newSession()
	expires := time.Now().Add(a.cfg.SessionTTL.D())
	if _, err := a.db.Exec(r.Context(), `INSERT INTO console_session (hash, expires_at) VALUES ($1, $2)`, hash, expires.Unix()); err != nil {
		httpx.Internal(w, r, a.log, err, "store the console session")
		return
	}
	a.log.Info("console sign-in", "ip", httpx.ClientIP(r))
	http.SetCookie(w, a.cookie(r, token, int(a.cfg.SessionTTL.D()/time.Second)))
	httpx.JSON(w, http.StatusOK, map[string]any{"mode": "admin", "expires": expires.Unix()})
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		if _, err := a.db.Exec(r.Context(), `DELETE FROM console_session WHERE hash = $1`, hashOf(c.Value)); err != nil {
			httpx.Internal(w, r, a.log, err, "forget the console session")
			return
		}
	}
	http.SetCookie(w, a.cookie(r, "", -1))
	httpx.JSON(w, http.StatusOK, map[string]any{})
}

func (a *App) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: cookieName, Value: value, Path: a.cfg.Prefix + "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
	}
}

// newSession returns a session token (256 random bits) and the hash that is stored.
func newSession() (token, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashOf(token)
}

// hashOf is what the store keeps of a session token: a stolen table signs no one in.
func hashOf(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func (a *App) validSession(ctx context.Context, token string) bool {
	if token == "" || len(token) > 100 {
		return false
	}
	var expires int64
	err := a.db.QueryRow(ctx, `SELECT expires_at FROM console_session WHERE hash = $1`, hashOf(token)).Scan(&expires)
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			a.log.Warn("read console session", "err", err)
		}
		return false
	}
	return time.Now().Unix() < expires
}

// feed streams the node's figures (event "stats", once a second) as SSE; EventSource
// reconnects by itself when the stream ends (limits.sse_max_lifetime, or a drain).
func (a *App) feed(w http.ResponseWriter, r *http.Request) {
	stream, err := sse.Start(w, r, a.feedOpt)
	if err != nil {
		return // answered
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	updates, stop := a.stats.watch()
	defer stop()
	go func() {
		event := "history" // first, every sample kept; then one sample a second
		for {
			select {
			case <-ctx.Done():
				return
			case b := <-updates:
				if !stream.Send(sse.Format("", event, b)) {
					return
				}
				event = "stats"
			}
		}
	}()
	stream.Serve(ctx)
}

func (a *App) channels(w http.ResponseWriter, r *http.Request) {
	chs := a.hub.Channels()
	q := r.URL.Query().Get("q")
	out := make([]hub.ChannelInfo, 0, len(chs))
	for _, c := range chs {
		if q == "" || strings.Contains(c.Name, q) {
			out = append(out, c)
		}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"channels": out})
}

// channel is one channel's presence (null where the namespace keeps none) and newest history.
func (a *App) channel(w http.ResponseWriter, r *http.Request) {
	ch := r.URL.Query().Get("name")
	hist, err := a.admin.History(r.Context(), ch, 20)
	if err != nil {
		httpx.Error(w, native.Status(err), err.Error())
		return
	}
	pres, err := a.admin.Presence(r.Context(), ch)
	if err != nil {
		httpx.Error(w, native.Status(err), err.Error())
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"channel": ch, "history": hist, "presence": pres})
}

// token is a connection token for the console's own tail of one channel through the native
// API, when the node verifies tokens; "" (anonymous) otherwise.
func (a *App) token(w http.ResponseWriter, r *http.Request) {
	ch := r.URL.Query().Get("channel")
	if a.node.TokenHMACSecret == "" || ch == "" {
		httpx.JSON(w, http.StatusOK, map[string]any{"token": ""})
		return
	}
	t, err := auth.Sign(a.node.TokenHMACSecret, "console", 10*time.Minute, []string{ch}, json.RawMessage(`{"name":"console"}`))
	if err != nil {
		httpx.Internal(w, r, a.log, err, "sign a console token")
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"token": t})
}

func (a *App) publish(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	}
	if !httpx.DecodeOrFail(w, r, a.node.Limits.MaxMessageBytes+1024, &p) {
		return
	}
	sp, err := a.admin.Publish(r.Context(), p.Channel, p.Data)
	if err != nil {
		httpx.Error(w, native.Status(err), err.Error())
		return
	}
	a.log.Info("console publish", "channel", p.Channel, "offset", sp.Offset)
	httpx.JSON(w, http.StatusOK, map[string]any{"offset": sp.Offset, "epoch": sp.Epoch})
}

// apps lists the apps with a page in the console.
func (a *App) apps(w http.ResponseWriter, _ *http.Request) {
	httpx.JSON(w, http.StatusOK, map[string]any{"apps": a.views.Names()})
}

// appSnapshotEvery is how often an app page's feed sends the app's state.
const appSnapshotEvery = 2 * time.Second

// appFeed streams an app's snapshot (event "snapshot", or "failed" with the error) every
// appSnapshotEvery while the page is open.
func (a *App) appFeed(w http.ResponseWriter, r *http.Request) {
	v, ok := a.views.Get(r.PathValue("name"))
	if !ok {
		httpx.Error(w, http.StatusNotFound, "no such app")
		return
	}
	stream, err := sse.Start(w, r, a.feedOpt)
	if err != nil {
		return // answered
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		tick := time.NewTicker(appSnapshotEvery)
		defer tick.Stop()
		for {
			sctx, scancel := context.WithTimeout(ctx, appSnapshotEvery)
			snap, err := v.Snapshot(sctx)
			scancel()
			event, b := "snapshot", []byte(nil)
			if err == nil {
				b, err = json.Marshal(snap)
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				a.log.Warn("console app snapshot", "app", r.PathValue("name"), "err", err)
				event, b = "failed", []byte(strconv.Quote(err.Error()))
			}
			if !stream.Send(sse.Format("", event, b)) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	stream.Serve(ctx)
}

// appAction runs an app's action with the request's JSON body as its params.
func (a *App) appAction(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	v, ok := a.views.Get(name)
	if !ok {
		httpx.Error(w, http.StatusNotFound, "no such app")
		return
	}
	var params json.RawMessage
	if !httpx.DecodeOrFail(w, r, 64<<10, &params) {
		return
	}
	res, err := v.Act(r.Context(), action, params)
	switch {
	case errors.Is(err, module.ErrNoAction), errors.Is(err, module.ErrNotFound):
		httpx.Error(w, http.StatusNotFound, err.Error())
	case errors.Is(err, module.ErrBadParams):
		httpx.Error(w, http.StatusBadRequest, err.Error())
	case err != nil:
		httpx.Internal(w, r, a.log, err, "console action "+name+" "+action)
	default:
		a.log.Info("console action", "app", name, "action", action)
		httpx.JSON(w, http.StatusOK, res)
	}
}

// csp keeps the console's pages to this node: no inline script or style, nothing fetched
// from elsewhere.
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; connect-src 'self' ws: wss:"

func withCSP(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		h.ServeHTTP(w, r)
	})
}
