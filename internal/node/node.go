// Package node assembles one Switchboard node from its config: store, broker, hub, apps and
// HTTP server. main and the end-to-end tests use the same path.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"

	"github.com/switchboard/switchboard/internal/apps/chat"
	"github.com/switchboard/switchboard/internal/apps/counter"
	"github.com/switchboard/switchboard/internal/apps/native"
	"github.com/switchboard/switchboard/internal/apps/signal"
	"github.com/switchboard/switchboard/internal/apps/streams"
	"github.com/switchboard/switchboard/internal/broker"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/server"
	"github.com/switchboard/switchboard/internal/store"
	"github.com/switchboard/switchboard/internal/transport"
)

// Version is set at build time (-ldflags "-X …/node.Version=v1.2.3").
var Version = "dev"

// Node is a running node's parts.
type Node struct {
	Config   config.Config
	Store    *store.DB
	Broker   broker.Broker
	Hub      *hub.Hub
	Registry *transport.Registry
	Server   *server.Server
	log      *slog.Logger
	// background runs until Serve's context ends (an app's cleanup loop).
	background []func(context.Context)
	// extra are listeners of their own (keenchat's socket.io port), address → handler.
	extra map[string]http.Handler
}

// New builds a node; Close releases it.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	db, err := store.Open(ctx, cfg.Store, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	mem := broker.NewMemory(cfg.Limits.HistoryMetaTTL.D())
	h := hub.New(mem, mem, log)
	if err := h.Run(); err != nil {
		db.Close()
		return nil, err
	}
	reg := transport.NewRegistry(cfg.Limits.MaxConns, cfg.Limits.MaxConnsPerIP, cfg.Limits.PingInterval.D())
	n := &Node{Config: cfg, Store: db, Broker: mem, Hub: h, Registry: reg, log: log}
	var mounts []server.Mount
	sig := cfg.Apps.Signal
	if sig.Enabled || sig.V1.Enabled || sig.V4.Enabled {
		// Signaling pushes answers and candidates on native channels of its own namespace.
		if !slices.ContainsFunc(cfg.Namespaces, func(ns config.Namespace) bool { return ns.Name == signal.PushNamespace }) {
			cfg.Namespaces = append(slices.Clone(cfg.Namespaces), signal.PushNamespaceConfig)
			n.Config = cfg
		}
		svc, err := signal.New(ctx, cfg, db, h, log, Version)
		if err != nil {
			db.Close()
			return nil, err
		}
		for _, m := range []struct {
			app server.App
			cfg config.App
		}{{svc.G2(), sig.App}, {svc.G1(), sig.V1}, {svc.G4(), sig.V4}} {
			if m.cfg.Enabled {
				mounts = append(mounts, server.Mount{App: m.app, Prefix: m.cfg.Prefix})
			}
		}
		n.background = append(n.background, svc.Run)
	}
	if cfg.Apps.Chat.Enabled {
		app, err := chat.New(ctx, cfg, db, h, reg, log)
		if err != nil {
			db.Close()
			return nil, err
		}
		mounts = append(mounts, server.Mount{App: app, Prefix: cfg.Apps.Chat.Prefix})
		n.background = append(n.background, app.Run)
		if addr := cfg.Apps.Chat.SocketIOAddr; addr != "" {
			mux := http.NewServeMux()
			mux.Handle("/socket.io/", app.SocketIO())
			n.extra = map[string]http.Handler{addr: mux}
		}
	}
	if cfg.Apps.Counter.Enabled {
		app, err := counter.New(ctx, cfg, db, h, reg, log)
		if err != nil {
			db.Close()
			return nil, err
		}
		mounts = append(mounts, server.Mount{App: app, Prefix: cfg.Apps.Counter.Prefix})
		n.background = append(n.background, app.Run)
	}
	if cfg.Apps.Streams.Enabled {
		app, err := streams.New(ctx, cfg, db, h, reg, log)
		if err != nil {
			db.Close()
			return nil, err
		}
		// The counter's dev mode serves its frontend at the same root.
		c := cfg.Apps.Counter
		app.Root = !(c.Enabled && c.Frontend != "" && c.Prefix == cfg.Apps.Streams.Prefix)
		mounts = append(mounts, server.Mount{App: app, Prefix: cfg.Apps.Streams.Prefix})
		n.background = append(n.background, app.Run)
	}
	if cfg.Apps.Native.Enabled {
		mounts = append(mounts, server.Mount{App: native.New(cfg, h, reg, log, Version), Prefix: cfg.Apps.Native.Prefix})
	}
	n.Server = server.New(cfg, log, db, mem, reg, Version, mounts...)
	return n, nil
}

// Serve runs until ctx ends, then drains. The apps' background work (relays, cleanup) runs
// until the drain is over: the node serves fully during its drain delay.
func (n *Node) Serve(ctx context.Context, ln net.Listener) error {
	var extra []server.Listener
	for addr, h := range n.extra {
		eln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range extra {
				_ = l.Listener.Close()
			}
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		extra = append(extra, server.Listener{Name: "chat socket.io", Listener: eln, Handler: h})
	}
	bg, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range n.background {
		wg.Go(func() { run(bg) })
	}
	err := n.Server.Serve(ctx, ln, extra...)
	stop()
	wg.Wait()
	return err
}

// Close releases the broker and the store.
func (n *Node) Close() error {
	return errors.Join(n.Broker.Close(context.Background()), n.Store.Close())
}
