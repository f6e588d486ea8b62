package native

import "github.com/switchboard/switchboard/internal/config"

// Name is the native API's name in the configuration and the module list.
const Name = "native"

// Config mounts the native API; its rules are the node's (limits, namespaces, keys).
type Config struct {
	config.App
}

// Default is the native API at the root.
func Default() *Config { return &Config{App: config.App{Enabled: true, Prefix: ""}} }

// Validate says what cannot work.
func (c *Config) Validate() error { return c.ValidatePrefix() }

// Settings is the native API's section of cfg.
func Settings(cfg config.Config) *Config { return config.Get[Config](cfg, Name) }
