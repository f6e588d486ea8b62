package node

import (
	"flag"

	"github.com/switchboard/switchboard/internal/apps/chat"
	"github.com/switchboard/switchboard/internal/apps/console"
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
	// Default is the app's section of the configuration, out of the box.
	Default func() config.Section
	New     func(module.Deps) (module.Module, error)
	// Namespaces, when set, are native namespaces the app needs; the node adds those the
	// configuration lacks.
	Namespaces func(cfg config.Config) []config.Namespace
	// Flags, when set, adds the app's command-line flags and returns what applies them.
	Flags func(fs *flag.FlagSet) func(*config.Config)
}

// entry is the list's line for an app whose package has Default() *Config and
// New(module.Deps) (*App, error).
func entry[C config.Section, M module.Module](name string, def func() C, newf func(module.Deps) (M, error)) Entry {
	return Entry{
		Name:    name,
		Default: func() config.Section { return def() },
		New:     func(d module.Deps) (module.Module, error) { return newf(d) },
	}
}

// Modules is the built-in module list, in mount order: where two apps serve one path (the
// counter's dev frontend and the streams' welcome text, both at /), the first keeps it.
var Modules = []Entry{
	withNamespaces(entry(signal.Name, signal.Default, signal.New), signal.Namespaces),
	entry(chat.Name, chat.Default, chat.New),
	withFlags(entry(counter.Name, counter.Default, counter.New), counter.Flags),
	entry(streams.Name, streams.Default, streams.New),
	entry(native.Name, native.Default, native.New),
	entry(console.Name, console.Default, console.New),
}

func withNamespaces(e Entry, ns func(config.Config) []config.Namespace) Entry {
	e.Namespaces = ns
	return e
}

func withFlags(e Entry, flags func(*flag.FlagSet) func(*config.Config)) Entry {
	e.Flags = flags
	return e
}

// DefaultConfig is the configuration `go run ./cmd/switchboard` uses: the core defaults and
// the section of every app in list (the built-in modules when none is given).
func DefaultConfig(list ...Entry) config.Config {
	if list == nil {
		list = Modules
	}
	cfg := config.Default()
	for _, e := range list {
		cfg.Apps[e.Name] = e.Default()
	}
	return cfg
}

// LoadConfig reads the configuration as main does (see config.Load), for the apps in list
// (the built-in modules when none is given), with their flags.
func LoadConfig(args []string, getenv func(string) string, list ...Entry) (config.Config, bool, error) {
	if list == nil {
		list = Modules
	}
	return config.Load(DefaultConfig(list...), args, getenv, func(fs *flag.FlagSet) func(*config.Config) {
		var apply []func(*config.Config)
		for _, e := range list {
			if e.Flags != nil {
				apply = append(apply, e.Flags(fs))
			}
		}
		return func(c *config.Config) {
			for _, f := range apply {
				f(c)
			}
		}
	})
}
