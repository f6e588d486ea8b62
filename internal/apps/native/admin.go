package native

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/switchboard/switchboard/internal/module"
	"github.com/switchboard/switchboard/internal/pubsub"
)

// Admin gives Go code in the node (the console) what the HTTP server API gives a backend:
// publish, history and presence of any channel, past namespace permissions but within the
// channel-name rules and size limits, with the same answers.
type Admin struct{ a *App }

// NewAdmin returns the server API of d's configuration, for in-process use.
func NewAdmin(d module.Deps) (*Admin, error) {
	a, err := New(d)
	if err != nil {
		return nil, err
	}
	return &Admin{a}, nil
}

// Publish publishes data to ch; errors carry an HTTP status (Status).
func (ad *Admin) Publish(ctx context.Context, ch string, data json.RawMessage) (pubsub.StreamPosition, error) {
	return ad.a.serverPublish(ctx, ch, data)
}

// History is ch's newest publications, at most limit (0: limits.recovery_max).
func (ad *Admin) History(ctx context.Context, ch string, limit int) (any, error) {
	if _, e := ad.a.rules.namespace(ch); e != nil {
		return nil, e
	}
	res, e := ad.a.history(ctx, historyParams{Channel: ch, Limit: limit})
	if e != nil {
		return nil, e
	}
	return res, nil
}

// Presence is ch's members, or nil where the namespace keeps no presence.
func (ad *Admin) Presence(ctx context.Context, ch string) (any, error) {
	ns, e := ad.a.rules.namespace(ch)
	if e != nil {
		return nil, e
	}
	if !ns.Presence {
		return nil, nil
	}
	res, e := ad.a.presence(ctx, ch, false)
	if e != nil {
		return nil, e
	}
	return res, nil
}

// Status is the HTTP status that answers err from Admin.
func Status(err error) int {
	var e *Error
	switch {
	case errors.As(err, &e):
		return statusOf(e)
	case errors.Is(err, pubsub.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
