package counter

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/switchboard/switchboard/internal/metrics"
	"github.com/switchboard/switchboard/internal/pubsub"
	"github.com/switchboard/switchboard/internal/transport/sio"
)

// Realtime (spec B3, B4). Client → server: `auth`(name), `click`({user, comment?, style?}),
// `event`({user, name}). Server → client: `stats` (on connect, and to everyone each hour),
// `status` {user_count} on every connect and disconnect, `message` {text, style, type} for
// joins, renames, leaves, milestones and events, `click` and `event` to everyone, the sender
// included. The texts are frust's, in German, byte for byte.

// messageStyle is the style of every server message.
const messageStyle = "medium highlight"

// Events frust broadcast without storing them or announcing them (B4).
var silentEvents = map[string]bool{"rickroll": true, "exmatrikulieren": true}

// opTimeout bounds the store and hub calls one socket event makes.
const opTimeout = 5 * time.Second

// conn is one socket's session.
type conn struct {
	a     *App
	sock  *sio.Socket
	id    string
	limit *rate.Limiter

	mu sync.Mutex
	s  session
}

func (a *App) connected(sock *sio.Socket) {
	c := &conn{a: a, sock: sock, id: sock.ID()}
	if a.cfg.ClickRate > 0 {
		c.limit = rate.NewLimiter(rate.Limit(a.cfg.ClickRate), max(1, int(2*a.cfg.ClickRate)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	c.mu.Lock()
	c.publishSession(ctx)
	c.mu.Unlock()
	if s, err := a.db.stats(ctx, a.unix()); err == nil {
		sock.Emit("stats", s)
	} else {
		a.log.Warn("stats", "err", err)
	}
	a.status(ctx)
	on := func(event string, fn func(ctx context.Context, arg any)) {
		sock.On(event, func(arg any) {
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			defer cancel()
			fn(ctx, arg)
		})
	}
	on("auth", c.auth)
	on("click", c.click)
	on("event", c.event)
	on("disconnect", func(ctx context.Context, _ any) { c.disconnected(ctx) })
}

// clean makes a client's string safe to show: the characters stats.html would read as markup
// (<, >, &) and control characters are dropped, then spaces trimmed as frust's strip() did.
// ok is false when nothing is left or it is longer than limit characters.
func clean(v any, limit int) (string, bool) {
	s, isString := v.(string)
	if !isString {
		return "", false
	}
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == '<' || r == '>' || r == '&' || unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s))
	return s, s != "" && utf8.RuneCountInString(s) <= limit
}

// style keeps the allowed classes of a click's style; "" when none is left.
func (a *App) style(v any) string {
	s, _ := v.(string)
	if len(s) > 200 {
		return ""
	}
	var kept []string
	for _, class := range strings.Fields(s) {
		if a.styles[class] {
			kept = append(kept, class)
		}
	}
	return strings.Join(kept, " ")
}

func (c *conn) allowed() bool {
	if c.limit != nil && !c.limit.Allow() {
		metrics.Refused.WithLabelValues("counter_click_rate").Inc()
		c.a.log.Debug("counter: over the click rate", "socket", c.id)
		return false
	}
	return true
}

func (c *conn) auth(ctx context.Context, arg any) {
	name, ok := clean(arg, c.a.cfg.MaxName)
	if !ok {
		c.a.log.Debug("counter: bad auth name", "socket", c.id)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setName(ctx, &name)
	c.publishSession(ctx)
}

func (c *conn) click(ctx context.Context, arg any) {
	obj, _ := arg.(map[string]any)
	user, ok := clean(obj["user"], c.a.cfg.MaxName)
	if !ok {
		c.a.log.Debug("counter: bad click", "socket", c.id)
		return
	}
	click := Click{User: user, Timestamp: c.a.unix()}
	if obj["comment"] != nil {
		comment, _ := clean(obj["comment"], 1<<20)
		if utf8.RuneCountInString(comment) > c.a.cfg.MaxComment {
			c.a.log.Debug("counter: comment too long", "socket", c.id)
			return
		}
		if comment != "" {
			click.Comment = &comment
		}
	}
	if s := c.a.style(obj["style"]); s != "" {
		click.Style = &s
	}
	if !c.allowed() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Queued for the store, then broadcast without waiting for the disk (see commit.go).
	if !c.a.commits.add(record{click: &click}) {
		return // refused visibly: counted, and reported by the committer
	}
	c.setName(ctx, &user)
	c.s.Clicks++
	c.publishSession(ctx)
	if n := c.s.Clicks; n == 50 || n%100 == 0 {
		c.a.message(ctx, user+" erreicht "+strconv.FormatInt(n, 10)+" Klicks!")
	}
	c.a.broadcast(ctx, "click", click)
}

func (c *conn) event(ctx context.Context, arg any) {
	obj, _ := arg.(map[string]any)
	user, ok := clean(obj["user"], c.a.cfg.MaxName)
	name, _ := obj["name"].(string)
	name = strings.TrimSpace(name)
	if !ok || !c.a.events[name] {
		c.a.log.Debug("counter: bad event", "socket", c.id, "name", name)
		return
	}
	if !c.allowed() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ev := Event{User: user, Name: name, Timestamp: c.a.unix()}
	if !c.a.commits.add(record{event: &ev, stored: !silentEvents[name]}) {
		return
	}
	c.setName(ctx, &user)
	c.s.Events++
	c.publishSession(ctx)
	if !silentEvents[name] {
		c.a.message(ctx, user+" triggered "+name+"!")
	}
	c.a.broadcast(ctx, "event", ev)
}

func (c *conn) disconnected(ctx context.Context) {
	c.mu.Lock()
	c.setName(ctx, nil)
	c.mu.Unlock()
	if err := c.a.hub.Leave(ctx, onlineChannel, c.id); err != nil {
		c.a.log.Warn("presence", "err", err)
	}
	c.a.status(ctx)
}

// setName is frust's set_name: a change of name is announced to everyone; c.mu is held.
func (c *conn) setName(ctx context.Context, name *string) {
	old := c.s.Name
	switch {
	case old == nil && name == nil, old != nil && name != nil && *old == *name:
		return
	case old == nil:
		c.a.message(ctx, *name+" ist beigetreten.")
	case name == nil:
		c.a.message(ctx, *old+" hat verlassen.")
	default:
		c.a.message(ctx, *old+" hat sich umbenannt zu "+*name+".")
	}
	c.s.Name = name
}

// publishSession records the socket's session in presence; c.mu is held.
func (c *conn) publishSession(ctx context.Context) {
	info, _ := json.Marshal(c.s)
	if err := c.a.hub.Join(ctx, onlineChannel, &pubsub.ClientInfo{Client: c.id, Info: info}, 0); err != nil {
		c.a.log.Warn("presence", "err", err)
	}
}

// status tells everyone how many sockets are connected, on every node.
func (a *App) status(ctx context.Context) {
	st, err := a.hub.PresenceStats(ctx, onlineChannel)
	if err != nil {
		a.log.Warn("presence stats", "err", err)
		return
	}
	a.broadcast(ctx, "status", map[string]int{"user_count": st.Clients})
}

// message broadcasts a toast.
func (a *App) message(ctx context.Context, text string) {
	a.broadcast(ctx, "message", struct {
		Text  string `json:"text"`
		Style string `json:"style"`
		Type  string `json:"type"`
	}{text, messageStyle, "toast"})
}

// broadcast sends an event to every socket on every node.
func (a *App) broadcast(ctx context.Context, event string, v any) {
	if err := a.sio.Broadcast(context.WithoutCancel(ctx), "", event, v); err != nil {
		a.log.Warn("broadcast", "event", event, "err", err)
	}
}
