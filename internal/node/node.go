// Package node assembles one Switchboard node from its config: store, broker, hub, the apps
// (modules.go lists them) and the HTTP server. main and the end-to-end tests use the same
// path.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/broker"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/module"
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
	modules  []module.Module // started, in list order
	extra    []module.Listener
}

// New builds a node of the built-in modules; Close releases it.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Node, error) {
	return NewWith(ctx, cfg, log, Modules)
}

// NewWith builds a node of the given modules, in order: each is built, then started; the
// first that fails stops every one already started, and nothing is left running.
func NewWith(ctx context.Context, cfg config.Config, log *slog.Logger, list []Entry) (_ *Node, err error) {
	for _, e := range list {
		if e.Namespaces == nil {
			continue
		}
		for _, ns := range e.Namespaces(cfg) {
			if !slices.ContainsFunc(cfg.Namespaces, func(have config.Namespace) bool { return have.Name == ns.Name }) {
				cfg.Namespaces = append(slices.Clone(cfg.Namespaces), ns)
			}
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// PostgreSQL and NATS may still be starting (a host's boot, a cluster's restart): a node
	// keeps trying for startup_wait rather than exit and wait for a supervisor.
	var db *store.DB
	if err := retry(ctx, log, "store", cfg.StartupWait.D(), store.IsPostgres(cfg.Store), func() (err error) {
		db, err = store.Open(ctx, cfg.Store, cfg.DataDir)
		return err
	}); err != nil {
		return nil, err
	}
	var brk broker.Broker
	var pres broker.PresenceManager
	if err := retry(ctx, log, "broker", cfg.StartupWait.D(), !inProcessBroker(cfg), func() (err error) {
		brk, pres, err = newBroker(ctx, cfg, log)
		return err
	}); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	h := hub.New(brk, pres, log)
	if err := h.Run(); err != nil {
		return nil, errors.Join(err, brk.Close(context.Background()), db.Close())
	}
	reg := transport.NewRegistry(cfg.Limits.MaxConns, cfg.Limits.MaxConnsPerIP, cfg.Limits.PingInterval.D())
	n := &Node{Config: cfg, Store: db, Broker: brk, Hub: h, Registry: reg, log: log}
	defer func() {
		if err != nil {
			n.stopModules()
			reg.Close()
			err = errors.Join(err, n.Close())
		}
	}()
	deps := module.Deps{Config: cfg, Hub: h, Store: db, Registry: reg, Log: log, Version: Version, Views: module.NewViews()}
	var mounts []server.Mount
	for _, e := range list {
		if sec, ok := cfg.Apps[e.Name]; !ok || !sec.Active() {
			continue
		}
		m, err := e.New(deps)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
		if err := m.Start(ctx); err != nil {
			n.modules = append(n.modules, m) // Run releases what a partial start took
			return nil, fmt.Errorf("start %s: %w", e.Name, err)
		}
		n.modules = append(n.modules, m)
		mounts = append(mounts, m.Mounts()...)
		if l, ok := m.(module.WithListeners); ok {
			n.extra = append(n.extra, l.Listeners()...)
		}
	}
	n.Server = server.New(cfg, log, db, brk, reg, Version, mounts...)
	return n, nil
}

// retry calls open until it succeeds, within has passed or ctx ends; remote is false for an
// engine in this process or on this disk, whose failure no wait mends (tried once). Each
// failure is logged with the wait before the next try (250 ms, doubling up to 5 s).
func retry(ctx context.Context, log *slog.Logger, what string, within time.Duration, remote bool, open func() error) error {
	deadline := time.Now().Add(within)
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := open()
		if err == nil || !remote || time.Now().Add(wait).After(deadline) {
			return err
		}
		log.Warn("not reachable yet; trying again", "what", what, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// inProcessBroker reports whether cfg.Broker names the in-process broker.
func inProcessBroker(cfg config.Config) bool { return cfg.Broker == "" || cfg.Broker == "memory" }

// newBroker builds the engine cfg.Broker names: the in-process one, or NATS for a cluster.
func newBroker(ctx context.Context, cfg config.Config, log *slog.Logger) (broker.Broker, broker.PresenceManager, error) {
	if inProcessBroker(cfg) {
		mem := broker.NewMemory(cfg.Limits.HistoryMetaTTL.D())
		return mem, mem, nil
	}
	maxHistory := 1
	for _, ns := range cfg.Namespaces {
		maxHistory = max(maxHistory, ns.HistorySize)
	}
	host, _ := os.Hostname()
	id := host + "-" + auth.RandomHex(4)
	b, err := broker.NewNATS(ctx, broker.NATSOptions{
		URL: cfg.Broker, Prefix: cfg.NATS.Prefix, Replicas: cfg.NATS.Replicas,
		MaxHistory: maxHistory, MetaTTL: cfg.Limits.HistoryMetaTTL.D(),
		NewEpochOnRestart: cfg.NATS.NewEpochOnRestart, Heartbeat: cfg.NATS.Heartbeat.D(),
		NodeID: id, Log: log,
	})
	if err != nil {
		return nil, nil, err
	}
	log.Info("cluster broker connected", "node", id, "prefix", cfg.NATS.Prefix)
	return b, b, nil
}

// stopModules ends modules that started but never ran, in reverse order.
func (n *Node) stopModules() {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, m := range slices.Backward(n.modules) {
		m.Run(done)
	}
	n.modules = nil
}

// Serve runs until ctx ends, then drains. The modules' background work (relays, cleanup) runs
// until the drain is over: the node serves fully during its drain delay.
func (n *Node) Serve(ctx context.Context, ln net.Listener) error {
	var extra []server.Listener
	for _, l := range n.extra {
		eln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			for _, e := range extra {
				_ = e.Listener.Close()
			}
			return fmt.Errorf("listen %s: %w", l.Addr, err)
		}
		extra = append(extra, server.Listener{Name: l.Name, Listener: eln, Handler: l.Handler})
	}
	bg, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, m := range n.modules {
		wg.Go(func() { m.Run(bg) })
	}
	err := n.Server.Serve(ctx, ln, extra...)
	stop()
	wg.Wait()
	n.modules = nil
	return err
}

// Close releases the broker and the store.
func (n *Node) Close() error {
	return errors.Join(n.Broker.Close(context.Background()), n.Store.Close())
}
