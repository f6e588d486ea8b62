// Package sio is the socket.io transport the apps share (chat, live counter): one
// zishang520 socket.io server that speaks to Engine.IO 3 clients (socket.io-client 1.x and
// 2.x) as well as Engine.IO 4 ones (3.x, 4.x), whose connections count in the transport
// registry (limits, drain), and whose broadcasts travel through the hub so that a socket on
// any node receives them.
//
// A broadcast is an Envelope published on a hub channel; every node relays the channel's
// publications to its local sockets in the envelope's room, encoding the packet once for the
// room.
package sio

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/zishang520/socket.io/servers/engine/v3/transports"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/pubsub"
	"github.com/switchboard/switchboard/internal/transport"
)

// Config is what an operator may tune of one socket.io mount: what clients and proxies in
// front of them depend on.
type Config struct {
	// PingInterval: how often the server pings (Engine.IO 4) or the client must (Engine.IO
	// 3, which the handshake tells the interval).
	PingInterval time.Duration
	// PingTimeout: how long a missing pong or ping is tolerated after that.
	PingTimeout time.Duration
	// ConnectTimeout: a client that has not joined a namespace by then is closed.
	ConnectTimeout time.Duration
	// MaxPayload bounds one HTTP long-polling body or WebSocket message, in bytes.
	MaxPayload int64
}

// FromConfig reads a mount's socket.io section.
func FromConfig(c config.SocketIO) Config {
	return Config{c.PingInterval.D(), c.PingTimeout.D(), c.ConnectTimeout.D(), c.MaxPayload}
}

// Options configure a Server.
type Options struct {
	Config
	Registry *transport.Registry
	Log      *slog.Logger
	// CheckOrigin decides cross-origin WebSocket upgrades (the node's cors_origins); nil
	// allows all.
	CheckOrigin func(r *http.Request) bool
	// Hub and Channel: the envelopes published on Channel reach this node's sockets.
	Hub     *hub.Hub
	Channel string
	// OnConnect runs for every socket of the default namespace (see Server.OnConnect).
	OnConnect func(sock *socket.Socket)
	// Goodbye, when set, is the event every socket is sent when the node shuts down, just
	// before its transport closes (chat's "refresh page").
	Goodbye string
}

// Server is one socket.io endpoint. Serve it (ServeHTTP) at any path: clients are told the
// path by their configuration, the server does not check it.
type Server struct {
	io          *socket.Server
	eio         http.Handler
	reg         *transport.Registry
	log         *slog.Logger
	checkOrigin func(r *http.Request) bool
	goodbye     []byte
	stopRelay   context.CancelFunc
}

// New returns a server that hands its sockets to o.OnConnect and relays o.Channel to them;
// Close stops the relay.
func New(o Options) (*Server, error) {
	if o.PingInterval <= 0 || o.PingTimeout <= 0 || o.ConnectTimeout <= 0 || o.MaxPayload <= 0 {
		return nil, fmt.Errorf("sio: ping interval, ping timeout, connect timeout and max payload must be positive")
	}
	opts := socket.DefaultServerOptions()
	opts.SetAllowEIO3(true) // socket.io-client 1.x and 2.x speak Engine.IO 3
	opts.SetServeClient(false)
	opts.SetPingInterval(o.PingInterval)
	opts.SetPingTimeout(o.PingTimeout)
	opts.SetMaxHttpBufferSize(o.MaxPayload)
	opts.SetConnectTimeout(o.ConnectTimeout)
	io := socket.NewServer(nil, opts)
	s := &Server{io: io, eio: io.ServeHandler(opts), reg: o.Registry, log: o.Log, checkOrigin: o.CheckOrigin, goodbye: goodbyePacket(o.Goodbye)}
	s.onConnect(o.OnConnect)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.relay(ctx, o.Hub, o.Channel); err != nil {
		cancel()
		return nil, err
	}
	s.stopRelay = cancel
	return s, nil
}

// Close stops relaying; the sockets themselves close with the registry's drain.
func (s *Server) Close() { s.stopRelay() }

// ServeHTTP serves Engine.IO's polling and WebSocket requests. CORS is the server's
// middleware's (the library's own would send the headers twice). The library allows a
// cross-origin WebSocket upgrade only with its own CORS option set, so a page on another
// origin silently stayed on long-polling: the node's origin rule decides here instead, and
// the library is shown no Origin for an upgrade the rule allowed.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		if s.checkOrigin != nil && !s.checkOrigin(r) {
			httpx.Error(w, http.StatusForbidden, "origin not allowed")
			return
		}
		r = r.Clone(r.Context())
		r.Header.Del("Origin")
	}
	s.eio.ServeHTTP(w, r)
}

// IO is the underlying socket.io server.
func (s *Server) IO() *socket.Server { return s.io }

// conn is a socket as the registry sees it.
type conn struct {
	sock    *socket.Socket
	goodbye []byte // the goodbye event as a socket.io packet on "/", or nil
}

// Heartbeat does nothing: Engine.IO pings by itself (the server in v4, the client in v3).
func (*conn) Heartbeat() {}

// Shutdown sends the goodbye event, if any, and closes the socket's transport once it is
// written. The transport closes rather than the socket disconnecting: every socket.io client
// reconnects after a "transport close", and none after an "io server disconnect".
func (c *conn) Shutdown() {
	eng := c.sock.Conn()
	// A peer that stops reading never lets a write or a close finish: it is cut off.
	time.AfterFunc(goodbyeGrace, func() { eng.Close(true) })
	if c.goodbye == nil {
		eng.Close(false)
		return
	}
	// Written through Engine.IO with a callback, which runs once the transport has written
	// it (a WebSocket transport closed at once would drop its queued writes). The callback
	// runs on the transport's write queue, which closing waits for: close elsewhere.
	eng.Write(types.NewStringBufferString(string(c.goodbye)), nil, func(transports.Transport) { go eng.Close(false) })
}

// goodbyeGrace is how long a socket has to take its goodbye on shutdown; a long-polling
// client takes it with its next poll, at once.
const goodbyeGrace = 3 * time.Second

// closeTransport closes sock's Engine.IO connection, flushing first.
func closeTransport(sock *socket.Socket) { sock.Conn().Close(false) }

// goodbyePacket is event, without arguments, as a socket.io EVENT packet on the default
// namespace: the same bytes in protocol 4 (Engine.IO 3) and 5.
func goodbyePacket(event string) []byte {
	if event == "" {
		return nil
	}
	b, _ := json.Marshal([]string{event})
	return append([]byte("2"), b...)
}

// onConnect calls fn for every socket of the default namespace, once it is counted in the
// registry; a socket over a connection limit is disconnected instead.
func (s *Server) onConnect(fn func(sock *socket.Socket)) {
	s.io.On("connection", func(a ...any) {
		sock, ok := a[0].(*socket.Socket)
		if !ok {
			return
		}
		c := &conn{sock, s.goodbye}
		ip := transport.ClientIP(sock.Request().Request())
		if err := s.reg.Add(c, ip); err != nil {
			// Closing the transport, not disconnecting: the client retries with backoff,
			// which a limit or a drain calls for, and is never stranded.
			s.log.Info("socket.io connection refused", "ip", ip, "reason", err)
			closeTransport(sock)
			return
		}
		_ = sock.On("disconnect", func(...any) { s.reg.Remove(c) })
		fn(sock)
	})
}

// On handles event on sock with fn, given the event's first argument (nil without one). A
// panic in fn is logged, not let loose: a hostile event must not take the process down.
func On(sock *socket.Socket, log *slog.Logger, event string, fn func(arg any)) {
	_ = sock.On(event, func(args ...any) {
		defer func() {
			if p := recover(); p != nil {
				log.Error("socket.io event panicked", "event", event, "panic", p)
			}
		}()
		var arg any
		if len(args) > 0 {
			arg = args[0]
		}
		fn(arg)
	})
}

// Envelope is a socket.io event carried through the hub.
type Envelope struct {
	Room  string            `json:"room,omitempty"` // relayed broadcasts: the room on every node
	Event string            `json:"event"`
	Args  []json.RawMessage `json:"args,omitempty"`
}

// NewEnvelope encodes args.
func NewEnvelope(room, event string, args ...any) (Envelope, error) {
	env := Envelope{Room: room, Event: event, Args: make([]json.RawMessage, len(args))}
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return env, fmt.Errorf("sio: encode %s: %w", event, err)
		}
		env.Args[i] = b
	}
	return env, nil
}

// Broadcast emits event with v to room ("" for every socket) on every node, through channel.
func Broadcast(ctx context.Context, h *hub.Hub, channel, room, event string, v any) error {
	env, err := NewEnvelope(room, event, v)
	if err != nil {
		return err
	}
	return Publish(ctx, h, channel, env)
}

// Publish sends env on a hub channel. History is not kept: socket.io has no recovery here.
func Publish(ctx context.Context, h *hub.Hub, channel string, env Envelope) error {
	b, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("sio: encode envelope: %w", err)
	}
	if _, err := h.Publish(ctx, channel, b, pubsub.PublishOptions{}); err != nil {
		return fmt.Errorf("sio: publish %s: %w", env.Event, err)
	}
	return nil
}

func decode(ev *hub.Event) (Envelope, []any, bool) {
	var env Envelope
	if ev.Kind != hub.KindPublication || json.Unmarshal(ev.Pub.Data, &env) != nil || env.Event == "" {
		return env, nil, false
	}
	args := make([]any, len(env.Args))
	for i, a := range env.Args {
		args[i] = a
	}
	return env, args, true
}

// relay emits a channel's envelopes to local rooms.
type relay struct {
	s       *Server
	channel string
}

func (r *relay) Deliver(ev *hub.Event) {
	env, args, ok := decode(ev)
	if !ok {
		return
	}
	if env.Room == "" {
		r.s.io.Emit(env.Event, args...)
		return
	}
	r.s.io.To(socket.Room(env.Room)).Emit(env.Event, args...)
}

func (r *relay) Gap(ch string) {
	r.s.log.Warn("socket.io relay: the broker lost a publication", "channel", ch)
}

// relay forwards the envelopes published on channel to this node's sockets until ctx ends.
func (s *Server) relay(ctx context.Context, h *hub.Hub, channel string) error {
	sub, _, err := h.Subscribe(ctx, channel, &relay{s, channel}, hub.SubscribeOptions{})
	if err != nil {
		return fmt.Errorf("sio: relay %s: %w", channel, err)
	}
	sub.Ready()
	context.AfterFunc(ctx, func() { h.Unsubscribe(context.Background(), sub) })
	return nil
}
