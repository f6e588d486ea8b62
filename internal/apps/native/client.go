package native

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/metrics"
	"github.com/switchboard/switchboard/internal/pubsub"
	"github.com/switchboard/switchboard/internal/transport/ws"
)

// client is one native WebSocket connection. Everything but Deliver, Gap and Disconnect runs
// on the connection's read goroutine, so its fields need no lock.
type client struct {
	app  *App
	conn *ws.Conn
	id   string
	identity
	info      *pubsub.ClientInfo
	connected bool
	errors    int
	subs      map[string]*hub.Subscription
	limiter   *rate.Limiter
	timer     *time.Timer // the connect deadline, then the token expiry
}

var (
	_ hub.Subscriber = (*client)(nil)
	_ hub.Client     = (*client)(nil)
	_ ws.Handler     = (*App)(nil)
)

func (a *App) serveWS(w http.ResponseWriter, r *http.Request) {
	_, err := a.wsServer.Accept(w, r, a, func(c *ws.Conn) {
		cl := &client{app: a, conn: c, id: newClientID()}
		c.Value = cl
		cl.timer = time.AfterFunc(a.limits.ConnectTimeout.D(), func() {
			cl.disconnect(DisconnectStale, "no connect command in time", false)
		})
	})
	if err != nil {
		a.log.Debug("websocket refused", "ip", r.RemoteAddr, "err", err)
	}
}

// OnMessage handles one frame: one or more commands separated by "\n".
func (a *App) OnMessage(c *ws.Conn, data []byte) {
	cl := c.Value.(*client)
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !cl.handle(line) {
			return
		}
	}
}

// OnClose releases the client's subscriptions.
func (a *App) OnClose(c *ws.Conn, code int, reason string) {
	cl := c.Value.(*client)
	if cl.timer != nil {
		cl.timer.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range cl.subs {
		a.hub.Unsubscribe(ctx, s)
	}
	if cl.connected {
		a.hub.RemoveClient(cl)
	}
	// Closes the server decided on (limits, tokens, slow consumers: codes 3000+ and 1008/1009)
	// are worth an operator's attention; ordinary client closes are not.
	level := slog.LevelDebug
	if code >= 3000 || code == ws.ClosePolicy || code == ws.CloseTooBig {
		level = slog.LevelInfo
	}
	a.log.Log(context.Background(), level, "websocket closed", "client", cl.id, "user", cl.user, "ip", c.IP(), "code", code, "reason", reason)
}

// handle runs one command and reports whether the connection is still usable.
func (cl *client) handle(line []byte) bool {
	var cmd command
	if err := json.Unmarshal(line, &cmd); err != nil {
		return cl.fail(0, errorf(ErrBadRequest, "command is not valid JSON"))
	}
	if cmd.Method == "pong" { // the answer to a server ping; the read itself kept us alive
		return true
	}
	if !cl.connected && cmd.Method != "connect" {
		cl.disconnect(DisconnectBadRequest, "the first command must be connect", false)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var res any
	var err *Error
	switch cmd.Method {
	case "connect":
		res, err = cl.connect(cmd.Params)
		if res == nil && err == nil {
			return false // refused: the connection is closing
		}
	case "subscribe":
		return cl.subscribe(ctx, cmd)
	case "unsubscribe":
		res, err = cl.unsubscribe(ctx, cmd.Params)
	case "publish":
		res, err = cl.publish(ctx, cmd.Params)
	case "presence":
		res, err = cl.presence(ctx, cmd.Params, false)
	case "presence_stats":
		res, err = cl.presence(ctx, cmd.Params, true)
	case "history":
		res, err = cl.history(ctx, cmd.Params)
	case "ping":
		res = struct{}{}
	default:
		err = errorf(ErrMethodNotFound, "%q", cmd.Method)
	}
	if err != nil {
		return cl.fail(cmd.ID, err)
	}
	if cmd.ID != 0 {
		cl.send(reply{ID: cmd.ID, Result: res})
	}
	return true
}

// fail answers a command with an error. Malformed commands (bad JSON or params, unknown
// methods) count against a limit, past which the connection is closed: a client that sends
// garbage is broken or hostile. Refusals (permissions, limits) do not count.
func (cl *client) fail(id uint32, e *Error) bool {
	cl.send(reply{ID: id, Error: e})
	if e.Code != ErrBadRequest.Code && e.Code != ErrMethodNotFound.Code {
		return true
	}
	cl.errors++
	if cl.errors > cl.app.limits.MaxCommandErrors {
		cl.disconnect(DisconnectTooManyErrors, "too many bad commands", false)
		return false
	}
	return true
}

func (cl *client) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		cl.app.log.Error("encode reply", "err", err)
		return
	}
	cl.conn.Send(b)
}

func decodeParams(raw json.RawMessage, v any) *Error {
	if len(raw) == 0 {
		return errorf(ErrBadRequest, "params missing")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errorf(ErrBadRequest, "params: %v", err)
	}
	return nil
}

// connect authenticates the client. A refused token closes the connection; connect then
// returns neither result nor error.
func (cl *client) connect(raw json.RawMessage) (any, *Error) {
	if cl.connected {
		return nil, errorf(ErrBadRequest, "already connected")
	}
	var p connectParams
	if len(raw) > 0 {
		if e := decodeParams(raw, &p); e != nil {
			return nil, e
		}
	}
	cl.timer.Stop()
	sess, err := cl.app.authenticate(p.Token, cl.id)
	if err != nil {
		expired := errors.Is(err, auth.ErrTokenExpired)
		code := DisconnectInvalidToken
		if expired {
			code = DisconnectExpired
		}
		cl.disconnect(code, err.Error(), expired)
		return nil, nil
	}
	cl.identity, cl.info = sess.identity, sess.info
	res := connectResult{Client: cl.id, User: cl.user, Ping: cl.app.pingSeconds(), Version: cl.app.version}
	if !sess.expires.IsZero() {
		res.Expires = sess.expires.Unix()
		cl.timer = time.AfterFunc(time.Until(sess.expires), func() {
			cl.disconnect(DisconnectExpired, "token expired", true)
		})
	}
	cl.connected = true
	cl.app.hub.AddClient(cl)
	return res, nil
}

// subscribe answers itself: the reply must be queued before the subscription's buffered live
// events are released.
func (cl *client) subscribe(ctx context.Context, cmd command) bool {
	var p subscribeParams
	if e := decodeParams(cmd.Params, &p); e != nil {
		return cl.fail(cmd.ID, e)
	}
	ns, e := cl.app.rules.namespace(p.Channel)
	if e != nil {
		return cl.fail(cmd.ID, e)
	}
	if !cl.maySubscribe(ns, p.Channel) {
		return cl.fail(cmd.ID, ErrPermission)
	}
	if _, ok := cl.subs[p.Channel]; ok {
		return cl.fail(cmd.ID, ErrAlreadySubscribe)
	}
	if len(cl.subs) >= cl.app.limits.MaxChannelsPerConn {
		metrics.Refused.WithLabelValues("max_channels_per_conn").Inc()
		return cl.fail(cmd.ID, errorf(ErrLimitExceeded, "at most %d channels per connection", cl.app.limits.MaxChannelsPerConn))
	}
	s, res, err := cl.app.hub.Subscribe(ctx, p.Channel, cl, hub.SubscribeOptions{
		Recover: p.Since, RecoveryMax: cl.app.limits.RecoveryMax,
		Presence: ns.Presence, JoinLeave: ns.JoinLeave, MaxPresence: cl.app.limits.MaxPresence,
		Info: cl.info, NoHistory: ns.HistorySize == 0,
	})
	if err != nil {
		cl.app.log.Error("subscribe", "channel", p.Channel, "err", err)
		return cl.fail(cmd.ID, ErrInternal)
	}
	if cl.subs == nil {
		cl.subs = map[string]*hub.Subscription{}
	}
	cl.subs[p.Channel] = s
	out := subscribeResult{
		Channel: p.Channel, Offset: res.Position.Offset, Epoch: res.Position.Epoch,
		Recoverable: ns.HistorySize > 0,
	}
	if p.Since != nil {
		out.Recovered = &res.Recovered
		out.Publications = res.Publications
	}
	cl.send(reply{ID: cmd.ID, Result: out})
	s.Ready()
	return true
}

func (cl *client) unsubscribe(ctx context.Context, raw json.RawMessage) (any, *Error) {
	var p channelParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, e
	}
	s, ok := cl.subs[p.Channel]
	if !ok {
		return nil, ErrNotSubscribed
	}
	delete(cl.subs, p.Channel)
	cl.app.hub.Unsubscribe(ctx, s)
	return struct{}{}, nil
}

func (cl *client) publish(ctx context.Context, raw json.RawMessage) (any, *Error) {
	var p publishParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, e
	}
	if len(p.Data) == 0 || bytes.Equal(p.Data, []byte("null")) {
		return nil, errorf(ErrBadRequest, "data missing")
	}
	ns, e := cl.app.rules.namespace(p.Channel)
	if e != nil {
		return nil, e
	}
	_, subscribed := cl.subs[p.Channel]
	if !cl.mayPublish(ns, subscribed) {
		return nil, ErrPermission
	}
	if cl.limiter == nil { // made on first publish: most connections never publish
		cl.limiter = rate.NewLimiter(rate.Limit(cl.app.limits.PublishRate), cl.app.limits.PublishBurst)
	}
	if !cl.limiter.Allow() {
		metrics.Refused.WithLabelValues("publish_rate").Inc()
		return nil, ErrTooManyRequests
	}
	sp, err := cl.app.hub.Publish(ctx, p.Channel, compact(p.Data), pubsub.PublishOptions{
		HistorySize: ns.HistorySize, HistoryTTL: ns.HistoryTTL.D(), Info: cl.info,
	})
	if err != nil {
		cl.app.log.Error("publish", "channel", p.Channel, "err", err)
		return nil, ErrInternal
	}
	return publishResult{Offset: sp.Offset, Epoch: sp.Epoch}, nil
}

// compact removes insignificant white space, so that a publication never holds a newline,
// which would split a batched frame.
func compact(data []byte) []byte {
	if bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') < 0 {
		return data
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return data // already validated as JSON by the decoder; unreachable
	}
	return b.Bytes()
}

// readable checks that the client may look at ch (presence, history): it may if it may
// subscribe.
func (cl *client) readable(ch string) *Error {
	ns, e := cl.app.rules.namespace(ch)
	if e != nil {
		return e
	}
	if !cl.maySubscribe(ns, ch) {
		return ErrPermission
	}
	return nil
}

func (cl *client) presence(ctx context.Context, raw json.RawMessage, stats bool) (any, *Error) {
	var p channelParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, e
	}
	if e := cl.readable(p.Channel); e != nil {
		return nil, e
	}
	ns, _ := cl.app.rules.namespace(p.Channel)
	if !ns.Presence {
		return nil, errorf(ErrNotAvailable, "presence is off in this namespace")
	}
	return cl.app.presence(ctx, p.Channel, stats)
}

func (a *App) presence(ctx context.Context, ch string, stats bool) (any, *Error) {
	if stats {
		st, err := a.hub.PresenceStats(ctx, ch)
		if err != nil {
			a.log.Error("presence stats", "channel", ch, "err", err)
			return nil, ErrInternal
		}
		return st, nil
	}
	m, err := a.hub.Presence(ctx, ch)
	if err != nil {
		a.log.Error("presence", "channel", ch, "err", err)
		return nil, ErrInternal
	}
	return presenceResult{Presence: m}, nil
}

func (cl *client) history(ctx context.Context, raw json.RawMessage) (any, *Error) {
	var p historyParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, e
	}
	if e := cl.readable(p.Channel); e != nil {
		return nil, e
	}
	return cl.app.history(ctx, p)
}

func (a *App) history(ctx context.Context, p historyParams) (any, *Error) {
	if p.Limit < 0 || p.Limit > a.limits.RecoveryMax {
		return nil, errorf(ErrBadRequest, "limit must be 0 to %d", a.limits.RecoveryMax)
	}
	limit := p.Limit
	if limit == 0 {
		limit = a.limits.RecoveryMax
	}
	hr, err := a.hub.History(ctx, p.Channel, pubsub.HistoryFilter{Since: p.Since, Limit: limit})
	if err != nil {
		a.log.Error("history", "channel", p.Channel, "err", err)
		return nil, ErrInternal
	}
	pubs := hr.Publications
	if pubs == nil {
		pubs = []*pubsub.Publication{}
	}
	return historyResult{Publications: pubs, Offset: hr.Position.Offset, Epoch: hr.Position.Epoch}, nil
}

// Deliver queues an event; a full queue disconnects the client as slow (in ws.Conn).
func (cl *client) Deliver(ev *hub.Event) { cl.conn.Send(ev.Bytes(nativeJSON)) }

// Gap disconnects so that the client resubscribes with recovery.
func (cl *client) Gap(ch string) {
	cl.disconnect(DisconnectInsufficient, "missed publications in "+ch, true)
}

// ID returns the client id.
func (cl *client) ID() string { return cl.id }

// User returns the user id from the token, or "".
func (cl *client) User() string { return cl.user }

// Disconnect closes the connection on the server API's request.
func (cl *client) Disconnect(code int, reason string) { cl.disconnect(code, reason, false) }

// disconnect sends the disconnect push and closes with the same code; it may run on any
// goroutine.
func (cl *client) disconnect(code int, reason string, reconnect bool) {
	metrics.Disconnects.WithLabelValues(reasonLabel(code)).Inc()
	cl.conn.Send(disconnectPush(code, reason, reconnect))
	cl.conn.Close(code, reason)
}

func reasonLabel(code int) string {
	switch code {
	case DisconnectInsufficient:
		return "insufficient_state"
	case DisconnectExpired:
		return "expired"
	case DisconnectInvalidToken:
		return "invalid_token"
	case DisconnectBadRequest:
		return "bad_request"
	case DisconnectStale:
		return "stale"
	case DisconnectForceNoReconnect:
		return "api"
	case DisconnectTooManyErrors:
		return "too_many_errors"
	}
	return "other"
}
