// Package counter is the frust-compatible live counter (../shared/specs/rondevu-and-frust.md
// part B): a button whose every press ("click") is broadcast live to everyone, named events,
// counters (total, today, this hour, in UTC) and hourly history, over HTTP under /api and
// socket.io at /api/socket.io/ for socket.io-client 2.3.0 (frust-web's) and 4.x.
//
// Deliberate differences, none of which changes a shape frust-web reads:
//   - every click and event is counted in the store in the same transaction that records it,
//     so the counters are exact across concurrent clicks and nodes, and the running hour
//     survives a crash (frust lost it);
//   - event names and style classes come from allow-lists (an unknown event name crashed every
//     frust-web client; a style injected CSS classes); names and comments are limited to
//     frust-web's own input lengths and lose the characters <, >, & and control characters,
//     which stats.html would otherwise inject as markup (nothing is escaped: the main page
//     renders text); clicks and events are rate-limited per connection;
//   - a bad payload is ignored and logged, as frust's exceptions were, but never half-applied;
//   - answers are application/json (frust sent JSON as text/plain; frust-web parses either).
package counter

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/module"
	"github.com/switchboard/switchboard/internal/server"
	"github.com/switchboard/switchboard/internal/transport"
	"github.com/switchboard/switchboard/internal/transport/sio"
)

// App serves the live counter.
type App struct {
	cfg    Config
	db     db
	hub    *hub.Hub
	log    *slog.Logger
	sio    *sio.Server
	now    func() time.Time // tests move it
	events map[string]bool
	styles map[string]bool
	prefix string

	commits *committer
	stop    func() // the committer and the relay
	reg     *transport.Registry
	node    sio.Node // what socket.io takes from the node's configuration
}

// Hub channels: the broadcasts to every socket, and the presence of connected sockets.
const (
	eventsChannel = "counter:events"
	onlineChannel = "counter:online"
)

// New builds the counter of d's configuration.
func New(d module.Deps) (*App, error) {
	c := *Settings(d.Config)
	a := &App{cfg: c, db: db{d.Store}, hub: d.Hub, reg: d.Registry, node: sio.NodeOf(d.Config),
		log: d.Log.With("app", "counter"), now: time.Now,
		events: set(c.Events), styles: set(c.Styles), prefix: c.Prefix, stop: func() {}}
	a.commits = newCommitter(a.db, a.log, a.cfg.CommitWindow.D())
	d.Views.Register(Name, view{a})
	return a, nil
}

// Start migrates the counter's tables, starts the group committer and relays broadcasts to
// local sockets.
func (a *App) Start(ctx context.Context) error {
	if err := a.db.Migrate(ctx, "counter", migrations); err != nil {
		return err
	}
	if err := a.db.Prepare(ctx, batchStatements...); err != nil {
		return err
	}
	commitCtx, stop := context.WithCancel(context.Background())
	go a.commits.run(commitCtx)
	var err error
	a.sio, err = sio.New(sio.Options{
		Settings: a.cfg.SocketIO, Node: a.node, App: Name,
		Registry: a.reg, Log: a.log, Hub: a.hub, Channel: eventsChannel, OnConnect: a.connected,
	})
	if err != nil {
		stop()
		<-a.commits.done
		return err
	}
	// The committer stops after the sockets: it commits what they queued, then returns.
	a.stop = func() { a.sio.Close(); stop(); <-a.commits.done }
	return nil
}

// Mounts is the counter at its prefix.
func (a *App) Mounts() []server.Mount { return []server.Mount{{App: a, Prefix: a.cfg.Prefix}} }

func set(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

// Name is the app's name in config and logs.
func (*App) Name() string { return "counter" }

func (a *App) unix() int64 { return a.now().Unix() }

// Run starts each hour as frust did (a row for the hour, `stats` to every local socket), on
// the UTC hour, until ctx ends.
func (a *App) Run(ctx context.Context) {
	defer a.stop()
	if ctx.Err() != nil {
		return
	}
	for {
		a.startHour(ctx)
		now := a.now()
		next := time.Unix(hourOf(now.Unix())+3600, 0)
		if !sleep(ctx, next.Sub(now)) {
			return
		}
	}
}

// startHour opens the current hour and tells this node's sockets the counters.
func (a *App) startHour(ctx context.Context) {
	if err := a.db.startHour(ctx, a.unix()); err != nil {
		a.log.Warn("start hour", "err", err)
		return
	}
	s, err := a.db.stats(ctx, a.unix())
	if err != nil {
		a.log.Warn("stats", "err", err)
		return
	}
	a.sio.EmitLocal("stats", s)
}

// Routes mounts the HTTP API, socket.io, and in dev mode the frontend.
func (a *App) Routes(r *httpx.Router) {
	api := map[string]http.HandlerFunc{
		"/api": func(w http.ResponseWriter, _ *http.Request) {
			httpx.JSON(w, http.StatusOK, map[string]string{"version": "1.0"})
		},
		"/api/latest_clicks": a.latestClicks,
		"/api/latest_events": a.latestEvents,
		"/api/latest_hours":  a.latestHours,
		"/api/users":         a.users,
		"/api/online_users":  a.onlineUsers,
		"/api/current_stats": a.currentStats,
	}
	for path, h := range api {
		if path == "/api" || path == "/api/online_users" {
			r.HandleFunc("GET "+path, h)
			continue
		}
		r.HandleFunc("GET "+path, a.readsBroadcasts(h))
	}
	r.Handle("/api/socket.io/", a.sio)
	if a.cfg.Frontend != "" {
		a.devRoutes(r)
	}
}

// readsBroadcasts makes a read of the counts wait for the commit of what this node has
// broadcast so far (at most one commit window, see commit.go): a client that saw its click go
// out and then asks this node finds it counted. (Another node's last window may still be on
// its way to the store.)
func (a *App) readsBroadcasts(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
		defer cancel()
		if err := a.commits.sync(ctx); err != nil {
			a.log.Warn("counter: read before the store caught up", "err", err)
		}
		h(w, r)
	}
}

// devRoutes are frust's --dev mode (spec B7): the frontend folder at /, with the version
// routes frust-web asks for.
func (a *App) devRoutes(r *httpx.Router) {
	r.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, a.prefix+"/index.html", http.StatusFound)
	})
	r.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		httpx.JSON(w, http.StatusOK, map[string]any{"commit_sha": "dev", "timestamp": dayOf(a.unix())})
	})
	r.HandleFunc("GET /version.json", func(w http.ResponseWriter, _ *http.Request) {
		now := strconv.FormatInt(a.unix(), 10)
		httpx.JSON(w, http.StatusOK, map[string]string{"commit_sha": now, "timestamp": now})
	})
	dir := http.Dir(a.cfg.Frontend)
	fileServer := http.FileServer(dir)
	// http.FileServer answers /index.html with a redirect to /, which frust's redirect of /
	// to /index.html would turn into a loop: index files are served as they are.
	var files http.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasSuffix(req.URL.Path, "/index.html") {
			fileServer.ServeHTTP(w, req)
			return
		}
		f, err := dir.Open(path.Clean(req.URL.Path))
		if err != nil {
			http.NotFound(w, req)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || st.IsDir() {
			http.NotFound(w, req)
			return
		}
		http.ServeContent(w, req, "index.html", st.ModTime(), f)
	})
	if a.prefix != "" {
		files = http.StripPrefix(a.prefix, files)
	}
	// Registered for every method: "GET /" would conflict with socket.io's method-less
	// pattern, which net/http refuses.
	r.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpx.Error(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		files.ServeHTTP(w, req)
	}))
}

func (a *App) internal(w http.ResponseWriter, r *http.Request, err error) {
	httpx.Internal(w, r, a.log, err)
}

// answer writes v, or the error that kept it from being read.
func (a *App) answer(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		a.internal(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, v)
}

func (a *App) latestClicks(w http.ResponseWriter, r *http.Request) {
	cs, err := a.db.clicksSince(r.Context(), dayOf(a.unix()), a.cfg.MaxLatestRows)
	a.answer(w, r, cs, err)
}

func (a *App) latestEvents(w http.ResponseWriter, r *http.Request) {
	es, err := a.db.eventsSince(r.Context(), dayOf(a.unix()), a.cfg.MaxLatestRows)
	a.answer(w, r, es, err)
}

// latestHours lists the hours of today and the days before, then the running hour.
func (a *App) latestHours(w http.ResponseWriter, r *http.Request) {
	now := a.unix()
	s, err := a.db.stats(r.Context(), now)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	hs, err := a.hoursFrom(r.Context(), dayOf(now)-int64(a.cfg.HistoryDays)*86400, now, s)
	a.answer(w, r, hs, err)
}

// hoursFrom is the hours from from on, then the running hour (from s, the running counts).
func (a *App) hoursFrom(ctx context.Context, from, now int64, s Stats) ([]Hour, error) {
	hs, err := a.db.hours(ctx, from, now)
	if err != nil {
		return nil, err
	}
	return append(hs, Hour{Timestamp: hourOf(now), Clicks: s.ClickHour, Events: s.EventHour, ClickTotal: s.ClickTotal, EventTotal: s.EventTotal}), nil
}

func (a *App) users(w http.ResponseWriter, r *http.Request) {
	us, err := a.db.users(r.Context())
	a.answer(w, r, us, err)
}

func (a *App) currentStats(w http.ResponseWriter, r *http.Request) {
	s, err := a.db.stats(r.Context(), a.unix())
	a.answer(w, r, s, err)
}

// session is one socket's entry in /api/online_users, kept as its presence info so the list
// spans every node.
type session struct {
	Name   *string `json:"name"`
	Clicks int64   `json:"click_count_session"`
	Events int64   `json:"event_count_session"`
}

func (a *App) onlineUsers(w http.ResponseWriter, r *http.Request) {
	out, err := a.online(r.Context())
	a.answer(w, r, out, err)
}

// online is every connected socket's session, on every node.
func (a *App) online(ctx context.Context) ([]session, error) {
	members, err := a.hub.Presence(ctx, onlineChannel)
	if err != nil {
		return nil, err
	}
	out := make([]session, 0, len(members))
	for _, info := range members {
		var s session
		if json.Unmarshal(info.Info, &s) == nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// view is the counter in the console: the counts, today's hours and who is online.
type view struct{ a *App }

// Snapshot waits for this node's queued clicks, as the API's count reads do.
func (v view) Snapshot(ctx context.Context) (any, error) {
	a := v.a
	if err := a.commits.sync(ctx); err != nil {
		return nil, err
	}
	now := a.unix()
	stats, err := a.db.stats(ctx, now)
	if err != nil {
		return nil, err
	}
	hours, err := a.hoursFrom(ctx, dayOf(now), now, stats)
	if err != nil {
		return nil, err
	}
	online, err := a.online(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]any{"stats": stats, "hours_today": hours, "online": online}, nil
}

// Act: the counter has no actions.
func (view) Act(context.Context, string, json.RawMessage) (any, error) {
	return nil, module.ErrNoAction
}
