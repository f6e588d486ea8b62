// Package module is the shape every app has, and what the node hands it. An app package
// exports New(Deps) (*App, error), which builds the app without side effects (no store
// writes, no goroutines, no subscriptions); the node then calls Start, mounts the app's
// surfaces, runs it, and ends it by cancelling Run's context. Apps reach the rest of the
// system only through Deps: the hub, the store, the connection registry.
//
// Lifecycle: New → Start (migrations, keys, subscriptions) → Run (background work, until its
// context ends; then it releases what Start took) . A Start that fails leaves nothing behind
// itself; the node then ends the modules that had started, in reverse order, by running them
// with a context already cancelled.
package module

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/server"
	"github.com/switchboard/switchboard/internal/store"
	"github.com/switchboard/switchboard/internal/transport"
)

// Deps is what the node gives every app.
type Deps struct {
	// Config is the node's configuration: the core settings (limits, origins, namespaces,
	// keys) and every app's section.
	Config   config.Config
	Hub      *hub.Hub
	Store    *store.DB
	Registry *transport.Registry
	Log      *slog.Logger
	Version  string
	// Views is where an app registers what it shows in the console (nil in tests that build
	// one app alone).
	Views *Views
}

// Module is one app as the node drives it.
type Module interface {
	// Mounts are the app's surfaces and their prefixes (signaling has three).
	Mounts() []server.Mount
	// Start does what New must not: migrations, keys, subscriptions.
	Start(ctx context.Context) error
	// Run does the app's background work until ctx ends, then releases what Start took.
	Run(ctx context.Context)
}

// Listener is a listener of an app's own, besides the node's (keenchat's socket.io port).
type Listener struct {
	Name    string
	Addr    string
	Handler http.Handler
}

// WithListeners is a Module that needs listeners of its own.
type WithListeners interface {
	Listeners() []Listener
}
