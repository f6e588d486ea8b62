package native

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/pubsub"
)

// The HTTP server API: for the app's own backend, authenticated with the API key as
// "Authorization: apikey KEY" or "X-API-Key: KEY". It bypasses channel permissions but not
// channel-name rules or size limits.

func (a *App) authorized(w http.ResponseWriter, r *http.Request) bool {
	if !a.apiKey.Enabled() {
		httpx.Error(w, http.StatusForbidden, "the server API is disabled: set api_key")
		return false
	}
	if key := auth.PresentedKey(r); key == "" || !a.apiKey.Match(key) {
		httpx.Error(w, http.StatusUnauthorized, "a valid API key is required")
		return false
	}
	return true
}

// apiChannel decodes a body with a channel, checks key and channel, and answers failures.
func (a *App) apiRequest(w http.ResponseWriter, r *http.Request, limit int64, v any, channel func() string) bool {
	if !a.authorized(w, r) || !httpx.DecodeOrFail(w, r, limit, v) {
		return false
	}
	if _, e := a.rules.namespace(channel()); e != nil {
		httpx.Error(w, statusOf(e), e.Message)
		return false
	}
	return true
}

func (a *App) apiPublish(w http.ResponseWriter, r *http.Request) {
	var p publishParams
	if !a.apiRequest(w, r, a.limits.MaxMessageBytes, &p, func() string { return p.Channel }) {
		return
	}
	sp, err := a.serverPublish(r.Context(), p.Channel, p.Data)
	if err != nil {
		a.answerError(w, "api publish", p.Channel, err)
		return
	}
	httpx.JSON(w, http.StatusOK, publishResult{Offset: sp.Offset, Epoch: sp.Epoch})
}

// serverPublish publishes data to ch as the server API does: past permissions, within the
// namespace's history settings. Errors are an *Error or wrap pubsub.ErrUnavailable.
func (a *App) serverPublish(ctx context.Context, ch string, data json.RawMessage) (pubsub.StreamPosition, error) {
	ns, e := a.rules.namespace(ch)
	if e != nil {
		return pubsub.StreamPosition{}, e
	}
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return pubsub.StreamPosition{}, errorf(ErrBadRequest, "data missing")
	}
	if int64(len(data)) > a.limits.MaxMessageBytes {
		return pubsub.StreamPosition{}, errorf(ErrBadRequest, "data over %d bytes", a.limits.MaxMessageBytes)
	}
	sp, err := a.hub.Publish(ctx, ch, compact(data), pubsub.PublishOptions{
		HistorySize: ns.HistorySize, HistoryTTL: ns.HistoryTTL.D(),
	})
	if err != nil && !errors.Is(err, pubsub.ErrUnavailable) {
		a.log.Error("publish", "channel", ch, "err", err)
		return sp, ErrInternal
	}
	return sp, err
}

// answerError answers a server-API failure: an *Error with its status, an unreachable
// cluster broker with 503 and Retry-After.
func (a *App) answerError(w http.ResponseWriter, what, ch string, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
		httpx.Error(w, statusOf(e), e.Message)
	case errors.Is(err, pubsub.ErrUnavailable):
		a.log.Warn(what, "channel", ch, "err", err)
		w.Header().Set("Retry-After", "1")
		httpx.Error(w, http.StatusServiceUnavailable, "the cluster broker is unreachable; try again")
	default:
		httpx.Error(w, http.StatusInternalServerError, err.Error())
	}
}

func (a *App) apiHistory(w http.ResponseWriter, r *http.Request) {
	var p historyParams
	if !a.apiRequest(w, r, a.limits.MaxBodyBytes, &p, func() string { return p.Channel }) {
		return
	}
	res, e := a.history(r.Context(), p)
	if e != nil {
		httpx.Error(w, statusOf(e), e.Message)
		return
	}
	httpx.JSON(w, http.StatusOK, res)
}

func (a *App) apiPresence(w http.ResponseWriter, r *http.Request)      { a.apiPresenceOf(w, r, false) }
func (a *App) apiPresenceStats(w http.ResponseWriter, r *http.Request) { a.apiPresenceOf(w, r, true) }

func (a *App) apiPresenceOf(w http.ResponseWriter, r *http.Request, stats bool) {
	var p channelParams
	if !a.apiRequest(w, r, a.limits.MaxBodyBytes, &p, func() string { return p.Channel }) {
		return
	}
	if ns, _ := a.rules.namespace(p.Channel); !ns.Presence {
		httpx.Error(w, http.StatusConflict, "presence is off in this namespace")
		return
	}
	res, e := a.presence(r.Context(), p.Channel, stats)
	if e != nil {
		httpx.Error(w, statusOf(e), e.Message)
		return
	}
	httpx.JSON(w, http.StatusOK, res)
}

func (a *App) apiChannels(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(w, r) {
		return
	}
	chs := a.hub.Channels()
	if chs == nil {
		httpx.JSON(w, http.StatusOK, map[string]any{"channels": []any{}})
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"channels": chs})
}

type disconnectParams struct {
	User   string `json:"user"`
	Reason string `json:"reason"`
}

func (a *App) apiDisconnect(w http.ResponseWriter, r *http.Request) {
	var p disconnectParams
	if !a.authorized(w, r) || !httpx.DecodeOrFail(w, r, a.limits.MaxBodyBytes, &p) {
		return
	}
	if p.User == "" {
		httpx.Error(w, http.StatusBadRequest, "user is empty")
		return
	}
	if p.Reason == "" {
		p.Reason = "disconnected by the server"
	}
	n := a.hub.DisconnectUser(p.User, DisconnectForceNoReconnect, p.Reason)
	httpx.JSON(w, http.StatusOK, map[string]int{"disconnected": n})
}
