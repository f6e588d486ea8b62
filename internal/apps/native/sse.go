package native

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/metrics"
	"github.com/switchboard/switchboard/internal/pubsub"
	"github.com/switchboard/switchboard/internal/transport/sse"
)

// sseClient is one SSE stream subscribed to one channel. One channel per stream keeps
// Last-Event-ID exact: the id of every event is that channel's epoch:offset.
type sseClient struct {
	id     string
	user   string
	stream *sse.Stream
}

var (
	_ hub.Subscriber = (*sseClient)(nil)
	_ hub.Client     = (*sseClient)(nil)
)

func (c *sseClient) Deliver(ev *hub.Event)              { c.stream.Send(ev.Bytes(sseEvents)) }
func (c *sseClient) Gap(string)                         { c.stream.Close() } // the client reconnects with Last-Event-ID
func (c *sseClient) ID() string                         { return c.id }
func (c *sseClient) User() string                       { return c.user }
func (c *sseClient) Disconnect(code int, reason string) { c.disconnect(code, reason, false) }

func (c *sseClient) disconnect(code int, reason string, reconnect bool) {
	metrics.Disconnects.WithLabelValues(reasonLabel(code)).Inc()
	c.stream.Send(sse.Format("", "disconnect", disconnectPush(code, reason, reconnect)))
	c.stream.Close()
}

// ParseEventID reads a Last-Event-ID of the form "epoch:offset".
func ParseEventID(s string) (*pubsub.StreamPosition, error) {
	epoch, off, ok := strings.Cut(s, ":")
	if !ok || epoch == "" || len(epoch) > 64 {
		return nil, errors.New("Last-Event-ID must be epoch:offset")
	}
	n, err := strconv.ParseUint(off, 10, 64)
	if err != nil {
		return nil, errors.New("Last-Event-ID offset must be a number")
	}
	return &pubsub.StreamPosition{Epoch: epoch, Offset: n}, nil
}

// serveSSE streams one channel: GET /v1/sse?channel=C[&token=T]. The token may also come as
// "Authorization: Bearer T"; the resume position as Last-Event-ID or ?last_event_id=.
func (a *App) serveSSE(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ch := q.Get("channel")
	ns, e := a.rules.namespace(ch)
	if e != nil {
		httpx.Error(w, statusOf(e), e.Message)
		return
	}
	token := q.Get("token")
	if h := r.Header.Get("Authorization"); token == "" && strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}
	sess, err := a.authenticate(token, newClientID())
	if err != nil {
		status := http.StatusUnauthorized
		if errors.Is(err, auth.ErrNoSecret) {
			status = http.StatusForbidden
		}
		httpx.Error(w, status, err.Error())
		return
	}
	id, info, expires := sess.identity, sess.info, sess.expires
	if !id.maySubscribe(ns, ch) {
		httpx.Error(w, http.StatusForbidden, ErrPermission.Message)
		return
	}
	var since *pubsub.StreamPosition
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("last_event_id")
	}
	if last != "" {
		pos, err := ParseEventID(last)
		if err != nil {
			httpx.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		since = pos
	}
	stream, err := sse.Start(w, r, a.sseOpts)
	if err != nil {
		return // Start answered
	}
	c := &sseClient{id: info.Client, user: id.user, stream: stream}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	s, res, err := a.hub.Subscribe(ctx, ch, c, hub.SubscribeOptions{
		Recover: since, RecoveryMax: a.limits.RecoveryMax,
		Presence: ns.Presence, JoinLeave: ns.JoinLeave, MaxPresence: a.limits.MaxPresence, Info: info,
		NoHistory: ns.HistorySize == 0,
	})
	cancel()
	if err != nil {
		a.log.Error("sse subscribe", "channel", ch, "err", err)
		stream.Send(sse.Format("", "error", []byte(`{"code":100,"message":"internal server error"}`)))
		stream.Close()
		stream.Serve(r.Context())
		return
	}
	a.hub.AddClient(c)
	hello := subscribeResult{Channel: ch, Offset: res.Position.Offset, Epoch: res.Position.Epoch, Recoverable: ns.HistorySize > 0}
	if since != nil {
		hello.Recovered = &res.Recovered
	}
	b, _ := json.Marshal(struct {
		Client string `json:"client"`
		subscribeResult
	}{c.id, hello})
	stream.Send(sse.Format(res.Position.Epoch+":"+strconv.FormatUint(res.Position.Offset, 10), "subscribed", b))
	for _, p := range res.Publications {
		stream.Send((&hub.Event{Kind: hub.KindPublication, Channel: ch, Pub: p, Epoch: res.Position.Epoch}).Bytes(sseEvents))
	}
	s.Ready()
	if !expires.IsZero() {
		// The stream ends when its token does; EventSource reconnects, and the page must
		// then present a fresh token.
		t := time.AfterFunc(time.Until(expires), func() { c.disconnect(DisconnectExpired, "token expired", true) })
		defer t.Stop()
	}
	why := stream.Serve(r.Context())
	a.hub.RemoveClient(c)
	uctx, ucancel := context.WithTimeout(context.Background(), 5*time.Second)
	a.hub.Unsubscribe(uctx, s)
	ucancel()
	a.log.Debug("sse closed", "client", c.id, "channel", ch, "why", why)
}

// statusOf maps a protocol error to an HTTP status.
func statusOf(e *Error) int {
	switch e.Code {
	case ErrUnauthorized.Code, ErrTokenExpired.Code:
		return http.StatusUnauthorized
	case ErrPermission.Code:
		return http.StatusForbidden
	case ErrUnknownChannel.Code:
		return http.StatusNotFound
	case ErrNotAvailable.Code:
		return http.StatusConflict
	case ErrTooManyRequests.Code:
		return http.StatusTooManyRequests
	case ErrInternal.Code:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}
