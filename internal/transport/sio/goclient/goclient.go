// Package goclient makes sockets of the Go socket.io client (zishang520's, patched in
// third_party/zishang520-socket-client: its handshake and CONNECT races) for the load tool
// and tests: Engine.IO 4 over WebSocket, connected only once their handlers are on, with the
// handshake's failure reported to the caller and retried.
package goclient

import (
	"errors"
	"fmt"
	"time"

	"github.com/zishang520/socket.io/clients/engine/v3/transports"
	sioclient "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// Options are a socket's settings.
type Options struct {
	// Path is the socket.io path on the server ("/api/socket.io").
	Path string
	// Reconnect lets the socket reconnect by itself once it was connected.
	Reconnect bool
}

// New makes a socket of the default namespace at base (http://host:port), not yet
// connected: put its handlers on, then call Connect. A socket that connected at once could
// see "connect", or its first event, before a handler was there for it.
func New(base string, o Options) (*sioclient.Socket, error) {
	opts := sioclient.DefaultOptions()
	opts.SetPath(o.Path)
	opts.SetTransports(types.NewSet(transports.WebSocket))
	opts.SetForceNew(true)
	opts.SetReconnection(o.Reconnect)
	opts.SetAutoConnect(false)
	sock, err := sioclient.Connect(base, opts)
	if err != nil {
		return nil, fmt.Errorf("socket.io client of %s%s: %w", base, o.Path, err)
	}
	return sock, nil
}

// handshakeGuard bounds the wait for one Engine.IO handshake, beyond the client's own
// timeout (20 s), in case the client reports nothing.
const handshakeGuard = 30 * time.Second

// Connect opens sock's Engine.IO session, trying up to attempts times (a handshake can time
// out on a machine under load), then connects the socket. It returns once CONNECT is sent;
// the socket's "connect" follows the server's answer. (The socket's own Connect would retry
// only through reconnection, and report a failure only as an event.)
func Connect(sock *sioclient.Socket, attempts int) error {
	m := sock.Io()
	var err error
	for range max(attempts, 1) {
		done := make(chan error, 1)
		m.Open(func(e error) {
			select {
			case done <- e:
			default:
			}
		})
		select {
		case err = <-done:
		case <-time.After(handshakeGuard):
			err = errors.New("no answer to the handshake")
		}
		if err == nil {
			sock.Connect()
			return nil
		}
	}
	return fmt.Errorf("socket.io handshake: %w", err)
}
