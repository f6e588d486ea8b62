package native

import (
	"bytes"
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
	if len(p.Data) == 0 || bytes.Equal(p.Data, []byte("null")) {
		httpx.Error(w, http.StatusBadRequest, "data missing")
		return
	}
	ns, _ := a.rules.namespace(p.Channel)
	sp, err := a.hub.Publish(r.Context(), p.Channel, compact(p.Data), pubsub.PublishOptions{
		HistorySize: ns.HistorySize, HistoryTTL: ns.HistoryTTL.D(),
	})
	if errors.Is(err, pubsub.ErrUnavailable) {
		a.log.Warn("api publish", "channel", p.Channel, "err", err)
		w.Header().Set("Retry-After", "1")
		httpx.Error(w, http.StatusServiceUnavailable, "the cluster broker is unreachable; try again")
		return
	}
	if err != nil {
		a.log.Error("api publish", "channel", p.Channel, "err", err)
		httpx.Error(w, http.StatusInternalServerError, "publish failed")
		return
	}
	httpx.JSON(w, http.StatusOK, publishResult{Offset: sp.Offset, Epoch: sp.Epoch})
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
