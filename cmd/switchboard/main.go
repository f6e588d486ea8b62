// Command switchboard is the Switchboard server: `switchboard -addr 127.0.0.1:8080 -data ./data`.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, version, err := node.LoadConfig(os.Args[1:], os.Getenv)
	if version {
		fmt.Println("switchboard", node.Version)
		return nil
	}
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := node.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer n.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	go func() {
		// SIGTERM (an orchestrator) drains after the drain delay, so that load balancers see
		// /readyz fail first; Ctrl-C, or a second signal, drains at once.
		sig := <-sigs
		log.Info("shutting down", "signal", sig.String())
		if sig == os.Interrupt {
			n.Server.SkipDrainDelay()
		}
		cancel()
		<-sigs
		n.Server.SkipDrainDelay()
	}()
	return n.Serve(ctx, ln)
}

func newLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
