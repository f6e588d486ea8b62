package console

import (
	"errors"
	"time"

	"github.com/switchboard/switchboard/internal/config"
)

// Name is the console's name in the configuration and the module list.
const Name = "console"

// Config configures the console: a live view of the node in a browser, at Prefix + "/".
type Config struct {
	config.App
	// Password signs an admin in (so does the node's api_key). With neither set, the console
	// is read-only to browsers on this machine (loopback) and off to everyone else.
	Password string `json:"password"`
	// SessionTTL is how long a sign-in lasts.
	SessionTTL config.Duration `json:"session_ttl"`
	// LoginRate is sign-in attempts per minute per IP (burst the same).
	LoginRate float64 `json:"login_rate"`
}

// Default is the console at /console, read-only on loopback until a password is set.
func Default() *Config {
	return &Config{App: config.App{Enabled: true, Prefix: "/console"}, SessionTTL: config.Duration(12 * time.Hour), LoginRate: 10}
}

// Validate says what cannot work.
func (c *Config) Validate() error {
	if c.Prefix == "" {
		return errors.New("prefix must not be empty: / answers API clients")
	}
	if c.SessionTTL <= 0 || c.LoginRate <= 0 {
		return errors.New("session_ttl and login_rate must be positive")
	}
	return c.ValidatePrefix()
}

// Settings is the console's section of cfg.
func Settings(cfg config.Config) *Config { return config.Get[Config](cfg, Name) }
