package counter

import (
	"errors"
	"flag"
	"time"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/transport/sio"
)

// Name is the counter's name in the configuration and the module list.
const Name = "counter"

// Config configures the frust-compatible live counter: HTTP under Prefix+"/api", socket.io at
// Prefix+"/api/socket.io/". Frontend, when set, is a folder served at Prefix+"/" (frust's --dev
// mode), so a frust-web checkout runs against the node unchanged.
type Config struct {
	config.App
	SocketIO      sio.Settings `json:"socketio"`
	Frontend      string       `json:"frontend"`
	Events        []string     `json:"events"`          // event names accepted
	Styles        []string     `json:"styles"`          // style classes accepted in a click
	MaxName       int          `json:"max_name"`        // characters (frust-web's input allows 15)
	MaxComment    int          `json:"max_comment"`     // characters (75)
	ClickRate     float64      `json:"click_rate"`      // clicks and events per second per connection (burst 2×); 0 = off
	HistoryDays   int          `json:"history_days"`    // days before today that latest_hours covers
	MaxLatestRows int          `json:"max_latest_rows"` // latest_clicks and latest_events
	// CommitWindow is the least time between the starts of two commits of clicks: what a
	// crash can lose, and what a steady stream shares per transaction (see commit.go).
	CommitWindow config.Duration `json:"commit_window"`
}

// Default is the counter's configuration out of the box.
func Default() *Config {
	return &Config{
		App: config.App{Enabled: true, Prefix: ""}, SocketIO: sio.DefaultSettings(16 << 10),
		// The event names frust-web sends, and its click colours and lines (plus the
		// style of the server's own messages).
		Events: []string{"fuck", "belasto", "einstein", "satan", "666", "fu", "exmatrikulieren", "pride", "fireworks", "rickroll", "sas", "lemma 6.7"},
		Styles: []string{"green", "purple", "blue", "yellow", "black", "white", "small", "big", "dotted", "dashed",
			"fire", "fancy", "medium", "highlight"},
		// frust-web sends a click per key repeat: a held Enter is 20–35 clicks/s, and a human
		// at full speed must never lose one. 50/s (burst 100) covers the fastest key repeat; a
		// script gets no further.
		MaxName: 15, MaxComment: 75, ClickRate: 50, HistoryDays: 6, MaxLatestRows: 10000,
		CommitWindow: config.Duration(20 * time.Millisecond),
	}
}

// Validate says what cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxName < 1 || c.MaxComment < 1 || c.ClickRate < 0 || c.HistoryDays < 0 || c.MaxLatestRows < 1 {
		errs = append(errs, errors.New("max_name, max_comment and max_latest_rows must be positive, click_rate and history_days not negative"))
	}
	if c.CommitWindow < 0 || c.CommitWindow.D() > time.Second {
		errs = append(errs, errors.New("commit_window must be 0 to 1s"))
	}
	return errors.Join(append(errs, c.ValidatePrefix(), c.SocketIO.Validate())...)
}

// Flags adds -frontend (frust's --dev mode) and returns what applies it.
func Flags(fs *flag.FlagSet) func(*config.Config) {
	frontend := fs.String("frontend", "", "serve this folder at / for the live counter (frust's --dev mode)")
	return func(c *config.Config) {
		if s := Settings(*c); s != nil && *frontend != "" {
			s.Frontend = *frontend
		}
	}
}

// Settings is the counter's section of cfg.
func Settings(cfg config.Config) *Config { return config.Get[Config](cfg, Name) }
