package sio

import (
	"errors"
	"time"

	"github.com/switchboard/switchboard/internal/config"
)

// Settings tune one app's socket.io endpoint: what its clients and the proxies in front of
// them depend on. The defaults are socket.io 4's own, except max_payload, which each app sizes
// to its events.
type Settings struct {
	// PingInterval: how often the server pings (Engine.IO 4), or the client must (Engine.IO
	// 3: the handshake tells it).
	PingInterval config.Duration `json:"ping_interval"`
	// PingTimeout: how long a missing pong (or ping) is tolerated after that.
	PingTimeout config.Duration `json:"ping_timeout"`
	// ConnectTimeout: a client that has not joined a namespace by then is closed.
	ConnectTimeout config.Duration `json:"connect_timeout"`
	// MaxPayload bounds one long-polling body or WebSocket message, in bytes.
	MaxPayload int64 `json:"max_payload"`
}

// DefaultSettings are socket.io 4's pingInterval, pingTimeout and connectTimeout with the
// given payload bound.
func DefaultSettings(maxPayload int64) Settings {
	return Settings{config.Duration(25 * time.Second), config.Duration(20 * time.Second), config.Duration(45 * time.Second), maxPayload}
}

// Validate says what is wrong with s, if anything.
func (s Settings) Validate() error {
	if !(s.PingInterval > 0 && s.PingTimeout > 0 && s.ConnectTimeout > 0 && s.MaxPayload > 0) {
		return errors.New("socketio: ping_interval, ping_timeout, connect_timeout and max_payload must be positive")
	}
	return nil
}
