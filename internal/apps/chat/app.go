// Package chat is the keenchat-compatible surface (../shared/specs/twizzle-and-keenchat.md
// part B): REST for users, login tokens, channels and messages, and socket.io for live events
// (new user, new message, who is in a channel, typing). Its broadcasts go through the hub
// (internal/transport/sio), so sockets on every node see them.
//
// Deliberate differences from keenchat, none of which changes a field its clients read:
//   - the three errors keenchat answered with HTTP 200 keep that status and text
//     ("Invalid details.", "Invalid username.", "Please pass an auth token."), because its
//     clients read the error from a 200 body; every other failure, which keenchat answered with
//     a hang, a stack trace or "404 Cannot POST", is a 4xx with a JSON error;
//   - a missing record is a 404 with a JSON error, not a 200 with an empty body;
//   - passwords are argon2id (a legacy SHA-256 hash is accepted once and replaced); tokens are
//     256 random bits, stored as SHA-256 hashes, expire, and can be revoked (DELETE /auth);
//     logins and sign-ups are rate-limited per IP, posts per user;
//   - POST /message answers message_body (as keenchat did) and message_text; it accepts either
//     name, and echoes channel_id as the number it stored;
//   - channels can be created, renamed and deleted (by their creator), which keenchat's README
//     promised; GET /channel/:id works; message lists page with limit and before;
//   - typing events go only to sockets in that channel and carry only channel_id and user_id;
//     unidentified sockets receive no chat traffic.
package chat

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/module"
	"github.com/switchboard/switchboard/internal/server"
	"github.com/switchboard/switchboard/internal/transport"
	"github.com/switchboard/switchboard/internal/transport/sio"
)

// App serves the chat surface.
type App struct {
	cfg   Config
	db    db
	hub   *hub.Hub
	log   *slog.Logger
	sio   *sio.Server
	now   func() time.Time
	login *httpx.IPLimiter // per IP
	posts *httpx.IPLimiter // per user
	rooms *rooms
	reg   *transport.Registry
	// node is what socket.io takes from the node's configuration.
	node sio.Node

	maxPresence int
}

// eventsChannel carries the chat's broadcasts between nodes.
const eventsChannel = "chat:events"

// New builds the chat of d's configuration.
func New(d module.Deps) (*App, error) {
	cfg := d.Config
	c := *Settings(cfg)
	a := &App{
		cfg: c, db: db{d.Store}, hub: d.Hub, reg: d.Registry, node: sio.NodeOf(cfg), log: d.Log.With("app", "chat"), now: time.Now,
		rooms: newRooms(), maxPresence: cfg.Limits.MaxPresence,
	}
	if c.LoginRate > 0 {
		a.login = httpx.NewIPLimiter(c.LoginRate, 10)
	}
	if c.PostRate > 0 {
		a.posts = httpx.NewIPLimiter(c.PostRate, 10)
	}
	d.Views.Register(Name, view{a})
	return a, nil
}

// Start migrates the chat tables and starts relaying broadcasts to local sockets.
func (a *App) Start(ctx context.Context) error {
	if err := a.db.Migrate(ctx, "chat", migrations); err != nil {
		return err
	}
	var err error
	a.sio, err = sio.New(sio.Options{
		Settings: a.cfg.SocketIO, Node: a.node, App: Name,
		Registry: a.reg, Log: a.log, Hub: a.hub, Channel: eventsChannel, OnConnect: a.connected,
		// keenchat told every socket to reload when it restarted; the sockets reconnect.
		Goodbye: "refresh page",
	})
	return err
}

// Name is the app's name in config and logs.
func (*App) Name() string { return "chat" }

// Mounts is the chat at its prefix.
func (a *App) Mounts() []server.Mount { return []server.Mount{{App: a, Prefix: a.cfg.Prefix}} }

// Listeners is keenchat's own socket.io port (/socket.io/ on socketio_addr), when set.
func (a *App) Listeners() []module.Listener {
	if a.cfg.SocketIOAddr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", a.sio)
	return []module.Listener{{Name: "chat socket.io", Addr: a.cfg.SocketIOAddr, Handler: mux}}
}

// Run sweeps expired tokens hourly until ctx ends, then stops relaying. (Each socket is told
// to reload, `refresh page`, as the node drains: the socket.io transport sends it just before
// closing that socket.)
func (a *App) Run(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if n, err := a.db.deleteExpiredTokens(ctx, a.nowMS()); err != nil {
				a.log.Warn("token cleanup", "err", err)
			} else if n > 0 {
				a.log.Info("token cleanup", "expired", n)
			}
		case <-ctx.Done():
			if a.sio != nil {
				a.sio.Close()
			}
			return
		}
	}
}

func (a *App) nowMS() int64 { return a.now().UnixMilli() }

// Routes mounts the REST API and socket.io below the prefix. Collections answer with and
// without a trailing slash, as Express did.
func (a *App) Routes(r *httpx.Router) {
	route := func(pattern string, h http.HandlerFunc) {
		r.HandleFunc(pattern, h)
		if !strings.Contains(pattern, "{") {
			r.HandleFunc(pattern+"/{$}", h)
		}
	}
	route("POST /auth", a.postAuth)
	route("DELETE /auth", a.deleteAuth)
	route("GET /user", a.getUsers)
	route("POST /user", a.postUser)
	route("GET /user/{id}", a.getUser)
	route("GET /channel", a.getChannels)
	route("POST /channel", a.postChannel)
	route("GET /channel/{id}", a.getChannel)
	route("PUT /channel/{id}", a.putChannel)
	route("DELETE /channel/{id}", a.deleteChannel)
	route("GET /message", a.getMessages)
	route("POST /message", a.postMessage)
	route("GET /message/{id}", a.getMessage)
	r.Handle("/socket.io/", a.sio)
}

// Errors keenchat answered with 200, which its clients read from the body.
const (
	errInvalidDetails  = "Invalid details."
	errInvalidUsername = "Invalid username."
	errNoAuth          = "Please pass an auth token."
)

// compatError answers one of keenchat's own errors the way it did: 200 with {"error"}.
func compatError(w http.ResponseWriter, msg string) {
	httpx.JSON(w, http.StatusOK, map[string]string{"error": msg})
}

func (a *App) internal(w http.ResponseWriter, r *http.Request, err error) {
	httpx.Internal(w, r, a.log, err)
}

// maxBody is keenchat's body-parser limit.
const maxBody = 100 << 10

// body reads a JSON object body (any Content-Type), answering failures itself.
func body(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		httpx.Error(w, http.StatusRequestEntityTooLarge, "body larger than 100 kB")
		return nil, false
	case err != nil:
		httpx.Error(w, http.StatusBadRequest, "cannot read body")
		return nil, false
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(b, &f); err != nil || f == nil {
		httpx.Error(w, http.StatusBadRequest, "body must be a JSON object")
		return nil, false
	}
	return f, true
}

// str reads a string member.
func str(f map[string]json.RawMessage, name string) (string, bool) {
	v, ok := f[name]
	var s string
	if !ok || len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// intValue reads an integer given as a JSON number or a decimal string (keenchat's clients
// sent both for ids).
func intValue(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func intMember(f map[string]json.RawMessage, name string) (int64, bool) {
	var v any
	if raw, ok := f[name]; !ok || json.Unmarshal(raw, &v) != nil {
		return 0, false
	}
	return intValue(v)
}

// queryID reads an integer query parameter; nil when absent.
func queryID(w http.ResponseWriter, r *http.Request, name string) (*int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, name+" must be an integer")
		return nil, false
	}
	return &n, true
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	n, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "id must be an integer")
		return 0, false
	}
	return n, true
}

// Tokens: 256 random bits as 64 hex characters (keenchat's shape), stored as SHA-256. A
// token is a random key, not a password: a fast hash is what lets it be looked up.

// presentedToken is ?auth= (keenchat's) or an Authorization: Bearer header.
func presentedToken(r *http.Request) string {
	if t := r.URL.Query().Get("auth"); t != "" {
		return t
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimPrefix(h, "Bearer ")
	}
	return ""
}

// user resolves a token to its user; ok is false for a missing, unknown or expired one.
func (a *App) user(ctx context.Context, token string) (int64, bool, error) {
	if token == "" || len(token) > 256 {
		return 0, false, nil
	}
	id, err := a.db.tokenUser(ctx, auth.HashToken(token), a.nowMS())
	if errors.Is(err, errNotFound) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// authed answers a request that needs a user; status is how a missing token is answered.
func (a *App) authed(w http.ResponseWriter, r *http.Request, status int) (int64, bool) {
	id, ok, err := a.user(r.Context(), presentedToken(r))
	if err != nil {
		a.internal(w, r, err)
		return 0, false
	}
	if !ok {
		httpx.JSON(w, status, map[string]string{"error": errNoAuth})
		return 0, false
	}
	return id, true
}

// legacyHash is keenchat's password hash: SHA-256 over the low byte of each UTF-16 unit.
func legacyHash(password string) string {
	units := utf16.Encode([]rune(password))
	b := make([]byte, len(units))
	for i, u := range units {
		b[i] = byte(u)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// dummyHash is checked against when a user does not exist, so a login takes as long for an
// unknown name as for a wrong password.
var dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c3dpdGNoYm9hcmRzYWx0$0b3P0O7mA4n2Q0fD0Vb9f3n1m8sI2kPq1Q0r3u1w5yY"

// checkPassword verifies a password; upgrade reports a legacy hash that should be replaced.
func checkPassword(ctx context.Context, stored, password string) (ok, upgrade bool, err error) {
	if strings.HasPrefix(stored, "$argon2id$") {
		ok, err = auth.CheckPassword(ctx, stored, password)
		return ok, false, err
	}
	if len(stored) == 64 {
		ok = subtle.ConstantTimeCompare([]byte(strings.ToLower(stored)), []byte(legacyHash(password))) == 1
		return ok, ok, nil
	}
	return false, false, auth.ErrBadHash
}

func (a *App) limited(w http.ResponseWriter, lim *httpx.IPLimiter, key string) bool {
	if lim != nil && !lim.Allow(key) {
		w.Header().Set("Retry-After", "1")
		httpx.Error(w, http.StatusTooManyRequests, "too many requests; try again later")
		return true
	}
	return false
}

func (a *App) postAuth(w http.ResponseWriter, r *http.Request) {
	if a.limited(w, a.login, httpx.ClientIP(r)) {
		return
	}
	f, ok := body(w, r)
	if !ok {
		return
	}
	name, ok1 := str(f, "username")
	password, ok2 := str(f, "password")
	if !ok1 || !ok2 {
		httpx.Error(w, http.StatusBadRequest, "username and password must be strings")
		return
	}
	id, stored, err := a.db.credentials(r.Context(), name)
	if errors.Is(err, errNotFound) {
		_, _, _ = checkPassword(r.Context(), dummyHash, password)
		compatError(w, errInvalidDetails)
		return
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	match, upgrade, err := checkPassword(r.Context(), stored, password)
	if err != nil && !errors.Is(err, auth.ErrBadHash) {
		a.internal(w, r, err)
		return
	}
	if !match {
		a.log.Info("chat login refused", "username", name, "ip", httpx.ClientIP(r))
		compatError(w, errInvalidDetails)
		return
	}
	if upgrade {
		if h, err := auth.HashPassword(r.Context(), password); err == nil {
			if err := a.db.setPassword(r.Context(), id, h); err != nil {
				a.log.Warn("upgrade legacy password hash", "user", id, "err", err)
			}
		}
	}
	token, now := auth.RandomHex(32), a.nowMS()
	expires := now + a.cfg.TokenTTL.D().Milliseconds()
	if err := a.db.createToken(r.Context(), auth.HashToken(token), id, now, expires, httpx.ClientIP(r)); err != nil {
		a.internal(w, r, err)
		return
	}
	a.log.Info("chat login", "user", id)
	httpx.JSON(w, http.StatusOK, struct {
		UserID    int64  `json:"user_id"`
		Token     string `json:"token_value"`
		ExpiresAt int64  `json:"expires_at"`
	}{id, token, expires})
}

// deleteAuth revokes the token presented (logout).
func (a *App) deleteAuth(w http.ResponseWriter, r *http.Request) {
	t := presentedToken(r)
	ok, err := a.db.deleteToken(r.Context(), auth.HashToken(t))
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if t == "" || !ok {
		httpx.Error(w, http.StatusUnauthorized, errNoAuth)
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]bool{"success": true})
}

var usernamePattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]+$`)

func (a *App) postUser(w http.ResponseWriter, r *http.Request) {
	if a.limited(w, a.login, httpx.ClientIP(r)) {
		return
	}
	f, ok := body(w, r)
	if !ok {
		return
	}
	name, ok := str(f, "username")
	if !ok || !usernamePattern.MatchString(name) || len(name) > 64 {
		compatError(w, errInvalidUsername)
		return
	}
	password, ok := str(f, "password")
	if n := utf8.RuneCountInString(password); !ok || n < a.cfg.PasswordMinLength || len(password) > 1024 {
		httpx.Error(w, http.StatusBadRequest, "password must be "+strconv.Itoa(a.cfg.PasswordMinLength)+" to 1024 characters")
		return
	}
	hash, err := auth.HashPassword(r.Context(), password)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	id, err := a.db.createUser(r.Context(), name, hash)
	if errors.Is(err, errTaken) {
		httpx.Error(w, http.StatusConflict, "username taken")
		return
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	u := User{id, name}
	a.log.Info("chat sign-up", "user", id, "username", name)
	a.broadcast(r.Context(), "post user", u)
	httpx.JSON(w, http.StatusOK, u)
}

// one answers a lookup by id: the single record, or a 404.
func one[T any](w http.ResponseWriter, list []T, what string) {
	if len(list) == 0 {
		httpx.Error(w, http.StatusNotFound, "no such "+what)
		return
	}
	httpx.JSON(w, http.StatusOK, list[0])
}

func (a *App) getUsers(w http.ResponseWriter, r *http.Request) {
	id, ok := queryID(w, r, "id")
	if !ok {
		return
	}
	var name *string
	if q := r.URL.Query(); q.Has("username") {
		v := q.Get("username")
		name = &v
	}
	users, err := a.db.users(r.Context(), id, name)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	if id != nil { // keenchat: an id filter answers one object, not a list
		one(w, users, "user")
		return
	}
	httpx.JSON(w, http.StatusOK, users)
}

func (a *App) getUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	users, err := a.db.users(r.Context(), &id, nil)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	one(w, users, "user")
}

func (a *App) getChannels(w http.ResponseWriter, r *http.Request) {
	cs, err := a.db.channels(r.Context(), nil)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	httpx.JSON(w, http.StatusOK, cs)
}

func (a *App) getChannel(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	cs, err := a.db.channels(r.Context(), &id)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	one(w, cs, "channel")
}

// channelFields reads title and description; partial allows either to be missing (PUT).
func channelFields(w http.ResponseWriter, f map[string]json.RawMessage, c *Channel, partial bool) bool {
	title, ok := str(f, "title")
	switch {
	case ok:
		c.Title = title
	case !partial || f["title"] != nil:
		httpx.Error(w, http.StatusBadRequest, "title must be a string")
		return false
	}
	desc, ok := str(f, "description")
	switch {
	case ok:
		c.Description = desc
	case !partial && f["description"] == nil:
		c.Description = ""
	case f["description"] != nil:
		httpx.Error(w, http.StatusBadRequest, "description must be a string")
		return false
	}
	if n := utf8.RuneCountInString(c.Title); n < 1 || n > 64 || strings.TrimSpace(c.Title) == "" {
		httpx.Error(w, http.StatusBadRequest, "title must be 1 to 64 characters")
		return false
	}
	if utf8.RuneCountInString(c.Description) > 1000 {
		httpx.Error(w, http.StatusBadRequest, "description must be at most 1000 characters")
		return false
	}
	return true
}

func (a *App) postChannel(w http.ResponseWriter, r *http.Request) {
	user, ok := a.authed(w, r, http.StatusUnauthorized)
	if !ok {
		return
	}
	f, ok := body(w, r)
	if !ok {
		return
	}
	var c Channel
	if !channelFields(w, f, &c, false) {
		return
	}
	id, err := a.db.createChannel(r.Context(), c.Title, c.Description, user)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	c.ID = id
	a.log.Info("chat channel created", "channel", id, "user", user)
	a.broadcast(r.Context(), "post channel", c)
	httpx.JSON(w, http.StatusOK, c)
}

// ownChannel loads a channel its caller created, answering failures itself.
func (a *App) ownChannel(w http.ResponseWriter, r *http.Request) (Channel, bool) {
	user, ok := a.authed(w, r, http.StatusUnauthorized)
	if !ok {
		return Channel{}, false
	}
	id, ok := pathID(w, r)
	if !ok {
		return Channel{}, false
	}
	c, err := a.db.channel(r.Context(), id)
	if errors.Is(err, errNotFound) {
		httpx.Error(w, http.StatusNotFound, "no such channel")
		return Channel{}, false
	}
	if err != nil {
		a.internal(w, r, err)
		return Channel{}, false
	}
	if c.createdBy != user {
		httpx.Error(w, http.StatusForbidden, "only the channel's creator may change it")
		return Channel{}, false
	}
	return c, true
}

func (a *App) putChannel(w http.ResponseWriter, r *http.Request) {
	c, ok := a.ownChannel(w, r)
	if !ok {
		return
	}
	f, ok := body(w, r)
	if !ok || !channelFields(w, f, &c, true) {
		return
	}
	if err := a.db.updateChannel(r.Context(), c); err != nil {
		a.internal(w, r, err)
		return
	}
	a.broadcast(r.Context(), "put channel", c)
	httpx.JSON(w, http.StatusOK, c)
}

func (a *App) deleteChannel(w http.ResponseWriter, r *http.Request) {
	c, ok := a.ownChannel(w, r)
	if !ok {
		return
	}
	if err := a.db.deleteChannel(r.Context(), c.ID); err != nil {
		a.internal(w, r, err)
		return
	}
	a.log.Info("chat channel deleted", "channel", c.ID)
	a.broadcast(r.Context(), "delete channel", map[string]int64{"id": c.ID})
	httpx.JSON(w, http.StatusOK, map[string]bool{"deleted": true})
}

func (a *App) getMessages(w http.ResponseWriter, r *http.Request) {
	var q messageQuery
	for _, p := range []struct {
		name string
		dst  **int64
	}{{"id", &q.ID}, {"user_id", &q.UserID}, {"channel_id", &q.ChannelID}, {"time", &q.Time}, {"before", &q.Before}} {
		v, ok := queryID(w, r, p.name)
		if !ok {
			return
		}
		*p.dst = v
	}
	// Without a limit, every match, as keenchat answered: its Android client loads the whole
	// list and filters it itself, so a default page would silently hide older history. The
	// list is streamed from the store, so its length costs no memory; unpaged_messages caps
	// it (the newest ones) where the table is too large to send whole.
	q.Limit = a.cfg.UnpagedMessages
	if l, ok := queryID(w, r, "limit"); !ok {
		return
	} else if l != nil {
		if *l < 1 {
			httpx.Error(w, http.StatusBadRequest, "limit must be positive")
			return
		}
		q.Limit = int(min(*l, int64(a.cfg.MaxPageSize)))
	}
	if q.ID != nil {
		ms, err := a.db.messages(r.Context(), q)
		if err != nil {
			a.internal(w, r, err)
			return
		}
		one(w, ms, "message")
		return
	}
	a.streamMessages(w, r, q)
}

// streamMessages writes the messages q matches as one JSON array, row by row.
func (a *App) streamMessages(w http.ResponseWriter, r *http.Request, q messageQuery) {
	started := false
	err := a.db.eachMessage(r.Context(), q, func(m Message) error {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		sep := ","
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			sep = "["
		}
		_, err = io.WriteString(w, sep)
		if err == nil {
			_, err = w.Write(b)
		}
		return err
	})
	switch {
	case err != nil && !started:
		a.internal(w, r, err)
	case err != nil:
		// The status is sent: cut the response short, so the client sees a broken list
		// rather than a complete-looking partial one.
		a.log.Error("chat: message list cut short", "err", err)
		panic(http.ErrAbortHandler)
	case !started:
		httpx.JSON(w, http.StatusOK, []Message{})
	default:
		_, _ = io.WriteString(w, "]\n")
	}
}

func (a *App) getMessage(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	ms, err := a.db.messages(r.Context(), messageQuery{ID: &id, Limit: 1})
	if err != nil {
		a.internal(w, r, err)
		return
	}
	one(w, ms, "message")
}

// posted is a message as POST /message and `post message` show it: keenchat wrote
// message_body there (spec B5); message_text is added for clients that read the read path's
// name.
type posted struct {
	ID        int64  `json:"id"`
	ChannelID int64  `json:"channel_id"`
	UserID    int64  `json:"user_id"`
	Body      string `json:"message_body"`
	Time      int64  `json:"time"`
	Text      string `json:"message_text"`
}

func (a *App) postMessage(w http.ResponseWriter, r *http.Request) {
	user, ok := a.authed(w, r, http.StatusOK) // keenchat: 200 {"error":"Please pass an auth token."}
	if !ok {
		return
	}
	f, ok := body(w, r)
	if !ok {
		return
	}
	text, ok := str(f, "message_text")
	if !ok {
		text, ok = str(f, "message_body")
	}
	if !ok || strings.TrimSpace(text) == "" {
		httpx.Error(w, http.StatusBadRequest, "message_text must be a non-empty string")
		return
	}
	if utf8.RuneCountInString(text) > a.cfg.MaxMessageLength {
		httpx.Error(w, http.StatusRequestEntityTooLarge, "message_text is longer than "+strconv.Itoa(a.cfg.MaxMessageLength)+" characters")
		return
	}
	channel, ok := intMember(f, "channel_id")
	if !ok {
		httpx.Error(w, http.StatusBadRequest, "channel_id must be an integer")
		return
	}
	if _, err := a.db.channel(r.Context(), channel); errors.Is(err, errNotFound) {
		httpx.Error(w, http.StatusNotFound, "no such channel")
		return
	} else if err != nil {
		a.internal(w, r, err)
		return
	}
	if a.limited(w, a.posts, strconv.FormatInt(user, 10)) {
		return
	}
	m := Message{UserID: user, ChannelID: channel, Text: text, Time: a.nowMS()}
	if err := a.db.createMessage(r.Context(), &m); err != nil {
		a.internal(w, r, err)
		return
	}
	p := posted{m.ID, m.ChannelID, m.UserID, m.Text, m.Time, m.Text}
	a.broadcast(r.Context(), "post message", p)
	httpx.JSON(w, http.StatusOK, p)
}

// broadcast sends an event to every identified socket on every node. The change it reports
// is stored already, so a failure is logged, not returned.
func (a *App) broadcast(ctx context.Context, event string, v any) {
	if err := a.sio.Broadcast(context.WithoutCancel(ctx), identifiedRoom, event, v); err != nil {
		a.log.Warn("broadcast", "event", event, "err", err)
	}
}
