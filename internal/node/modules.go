package node

import (
	"github.com/switchboard/switchboard/internal/apps/chat"
	"github.com/switchboard/switchboard/internal/apps/counter"
	"github.com/switchboard/switchboard/internal/apps/native"
	"github.com/switchboard/switchboard/internal/apps/signal"
	"github.com/switchboard/switchboard/internal/apps/streams"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/module"
)

// Entry is one app in a node's module list.
type Entry struct {
	Name string
	// Enabled says whether cfg turns the app on.
	Enabled func(cfg config.Config) bool
	New     func(module.Deps) (module.Module, error)
	// Namespaces, when set, are native namespaces the app needs; the node adds those the
	// configuration lacks.
	Namespaces func(cfg config.Config) []config.Namespace
}

// entry makes the list's line for an app whose package has New(module.Deps) (*App, error).
func entry[M module.Module](name string, on func(config.Apps) bool, newf func(module.Deps) (M, error)) Entry {
	return Entry{
		Name:    name,
		Enabled: func(c config.Config) bool { return on(c.Apps) },
		New:     func(d module.Deps) (module.Module, error) { return newf(d) },
	}
}

// Modules is the built-in module list, in mount order: where two apps serve one path (the
// counter's dev frontend and the streams' welcome text, both at /), the first keeps it.
var Modules = []Entry{
	withNamespaces(entry("signal", func(a config.Apps) bool { return a.Signal.Enabled || a.Signal.V1.Enabled || a.Signal.V4.Enabled }, signal.New), signal.Namespaces),
	entry("chat", func(a config.Apps) bool { return a.Chat.Enabled }, chat.New),
	entry("counter", func(a config.Apps) bool { return a.Counter.Enabled }, counter.New),
	entry("streams", func(a config.Apps) bool { return a.Streams.Enabled }, streams.New),
	entry("native", func(a config.Apps) bool { return a.Native.Enabled }, native.New),
}

func withNamespaces(e Entry, ns func(config.Config) []config.Namespace) Entry {
	e.Namespaces = ns
	return e
}
