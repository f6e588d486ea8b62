package chat

import (
	"errors"
	"time"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/transport/sio"
)

// Name is the chat's name in the configuration and the module list.
const Name = "chat"

// Config configures the keenchat-compatible surface: REST below Prefix, socket.io at
// Prefix+"/socket.io/" and, when SocketIOAddr is set, also at /socket.io/ on a listener of its
// own (keenchat's WEBSOCKETS_PORT, 5001).
type Config struct {
	config.App
	SocketIO         sio.Settings    `json:"socketio"`
	SocketIOAddr     string          `json:"socketio_addr"`
	TokenTTL         config.Duration `json:"token_ttl"`          // login tokens expire after this
	MaxMessageLength int             `json:"max_message_length"` // characters of one message
	MaxPageSize      int             `json:"max_page_size"`      // messages one GET /message?limit= returns at most
	// UnpagedMessages caps a GET /message without limit to the newest this many; 0 sends
	// every match, as keenchat did (its Android client loads the whole list).
	UnpagedMessages   int             `json:"unpaged_messages"`
	PasswordMinLength int             `json:"password_min_length"` // characters
	PostRate          float64         `json:"post_rate"`           // messages per second per user (burst 10); 0 = off
	LoginRate         float64         `json:"login_rate"`          // logins and sign-ups per second per IP (burst 10); 0 = off
	TypingInterval    config.Duration `json:"typing_interval"`     // a socket's typing events closer than this are dropped
}

// Default is the chat's configuration out of the box.
func Default() *Config {
	return &Config{
		App: config.App{Enabled: true, Prefix: "/chat"}, SocketIO: sio.DefaultSettings(100 << 10), TokenTTL: config.Duration(30 * 24 * time.Hour),
		MaxMessageLength: 4000, MaxPageSize: 1000, PasswordMinLength: 6, PostRate: 5, LoginRate: 1,
		TypingInterval: config.Duration(300 * time.Millisecond),
	}
}

// Validate says what cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.TokenTTL <= 0 || c.MaxMessageLength <= 0 || c.MaxPageSize <= 0 || c.UnpagedMessages < 0 || c.PasswordMinLength < 1 || c.PostRate < 0 || c.LoginRate < 0 || c.TypingInterval < 0 {
		errs = append(errs, errors.New("token_ttl, max_message_length, max_page_size and password_min_length must be positive, unpaged_messages, rates and typing_interval not negative"))
	}
	return errors.Join(append(errs, c.ValidatePrefix(), c.SocketIO.Validate())...)
}

// Settings is the chat's section of cfg.
func Settings(cfg config.Config) *Config { return config.Get[Config](cfg, Name) }
