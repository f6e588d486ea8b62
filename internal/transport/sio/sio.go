// Package sio is the socket.io transport the apps share (chat, live counter): one
// zishang520 socket.io server that speaks to Engine.IO 3 clients (socket.io-client 1.x and
// 2.x) as well as Engine.IO 4 ones (3.x, 4.x), whose connections count in the transport
// registry (limits, drain), and whose broadcasts travel through the hub so that a socket on
// any node receives them.
//
// Apps see a Socket (emit to it, rooms, guarded event handlers) and Server.Broadcast, never
// the socket.io library: this is the one package that imports it. A broadcast is published
// on the server's hub channel as its room, a newline, and the socket.io event's JSON
// (["event",arg]) encoded once; every node hands those bytes, undecoded, to its local sockets
// in the room as one packet, which the library encodes once for all of them.
package sio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/zishang520/socket.io/parsers/socket/v3/parser"
	"github.com/zishang520/socket.io/servers/engine/v3/transports"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/metrics"
	"github.com/switchboard/switchboard/internal/pubsub"
	"github.com/switchboard/switchboard/internal/transport"
)

// Node is what a Server takes from the node's configuration (NodeOf).
type Node struct {
	// CheckOrigin decides cross-origin WebSocket upgrades (the node's cors_origins); nil
	// allows all.
	CheckOrigin func(r *http.Request) bool
	// QueueBytes bounds what waits to be sent to one socket (a WebSocket's queue, a
	// long-polling socket's buffer between polls), as limits.queue_bytes does the native
	// connections'; a socket that would outgrow it is closed as a slow consumer, and its
	// client reconnects. 0 is no bound.
	QueueBytes int
	// WriteDelay makes a WebSocket's woken writer wait this long before writing, so that
	// what is sent meanwhile shares the write, as limits.write_delay does for the native
	// connections: throughput for latency. 0 writes at once.
	WriteDelay time.Duration
}

// NodeOf is the Node of the node's configuration: cors_origins, limits.queue_bytes and
// limits.write_delay.
func NodeOf(cfg config.Config) Node {
	return Node{CheckOrigin: httpx.OriginChecker(cfg.CORSOrigins), QueueBytes: cfg.Limits.QueueBytes, WriteDelay: cfg.Limits.WriteDelay.D()}
}

// Options configure a Server.
type Options struct {
	Settings
	Node
	Registry *transport.Registry
	Log      *slog.Logger
	// App names the app the sockets serve, as the console shows it.
	App string
	// Hub and Channel: the broadcasts published on Channel (Server.Broadcast) reach this
	// node's sockets.
	Hub     *hub.Hub
	Channel string
	// OnConnect runs for every socket of the default namespace, once it counts in the
	// registry.
	OnConnect func(sock *Socket)
	// Goodbye, when set, is the event every socket is sent when the node shuts down, just
	// before its transport closes (chat's "refresh page").
	Goodbye string
}

// Server is one socket.io endpoint. Serve it (ServeHTTP) at any path: clients are told the
// path by their configuration, the server does not check it.
type Server struct {
	io          *socket.Server
	hub         *hub.Hub
	channel     string
	eio         http.Handler
	reg         *transport.Registry
	log         *slog.Logger
	checkOrigin func(r *http.Request) bool
	goodbye     []byte
	queueBytes  int
	app         string
	stopRelay   context.CancelFunc
}

// New returns a server that hands its sockets to o.OnConnect and relays o.Channel to them;
// Close stops the relay.
func New(o Options) (*Server, error) {
	if err := o.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("sio: %w", err)
	}
	opts := socket.DefaultServerOptions()
	opts.SetAllowEIO3(true) // socket.io-client 1.x and 2.x speak Engine.IO 3
	opts.SetServeClient(false)
	opts.SetPingInterval(o.PingInterval.D())
	opts.SetPingTimeout(o.PingTimeout.D())
	opts.SetMaxHttpBufferSize(o.MaxPayload)
	opts.SetConnectTimeout(o.ConnectTimeout.D())
	opts.SetQueueBytes(o.QueueBytes)
	opts.SetWriteDelay(o.WriteDelay)
	io := socket.NewServer(nil, opts)
	s := &Server{
		io: io, hub: o.Hub, channel: o.Channel, eio: io.ServeHandler(opts), reg: o.Registry, log: o.Log,
		checkOrigin: o.CheckOrigin, goodbye: goodbyePacket(o.Goodbye), queueBytes: o.QueueBytes, app: o.App,
	}
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

// EmitLocal emits event with args to every socket of this node (not through the hub).
func (s *Server) EmitLocal(event string, args ...any) { _ = s.io.Emit(event, args...) }

// conn is a socket as the registry sees it.
type conn struct {
	sock    *socket.Socket
	goodbye []byte // the goodbye event as a socket.io packet on "/", or nil
	app     string
}

// Describe is the socket's app and its Engine.IO transport ("socket.io/websocket" or
// "socket.io/polling").
func (c *conn) Describe() (string, string) {
	if t := c.sock.Conn().Transport(); t != nil {
		return c.app, "socket.io/" + t.Name()
	}
	return c.app, "socket.io"
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
// registry; a socket over a connection limit is closed instead.
func (s *Server) onConnect(fn func(sock *Socket)) {
	s.io.On("connection", func(a ...any) {
		sock, ok := a[0].(*socket.Socket)
		if !ok {
			return
		}
		c := &conn{sock, s.goodbye, s.app}
		ip := httpx.ClientIP(sock.Request().Request())
		if err := s.reg.Add(c, ip); err != nil {
			// Closing the transport, not disconnecting: the client retries with backoff,
			// which a limit or a drain calls for, and is never stranded.
			s.log.Info("socket.io connection refused", "ip", ip, "reason", err)
			closeTransport(sock)
			return
		}
		_ = sock.On("disconnect", func(a ...any) {
			s.reg.Remove(c)
			if len(a) > 1 {
				if err, ok := a[1].(error); ok && errors.Is(err, transports.ErrSlowConsumer) {
					metrics.Disconnects.WithLabelValues("slow").Inc()
					s.log.Info("socket.io connection cut off as a slow consumer", "ip", ip, "queue_bytes", s.queueBytes)
				}
			}
		})
		fn(&Socket{sock: sock, log: s.log})
	})
}

// Socket is one socket.io connection of the default namespace, as an app sees it.
type Socket struct {
	sock *socket.Socket
	log  *slog.Logger
}

// ID is the socket's id, unique across nodes.
func (s *Socket) ID() string { return string(s.sock.Id()) }

// Emit sends event with args to this socket alone.
func (s *Socket) Emit(event string, args ...any) { _ = s.sock.Emit(event, args...) }

// Join puts the socket in room (of this node; Server.Broadcast reaches the room on every
// node).
func (s *Socket) Join(room string) { s.sock.Join(socket.Room(room)) }

// Leave takes the socket out of room.
func (s *Socket) Leave(room string) { s.sock.Leave(socket.Room(room)) }

// On handles event with fn, given the event's first argument (nil without one); "disconnect"
// is the socket's end. Events of one socket are handled one at a time, in order. A panic in
// fn is logged, not let loose: a hostile event must not take the process down.
func (s *Socket) On(event string, fn func(arg any)) {
	_ = s.sock.On(event, func(args ...any) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("socket.io event panicked", "event", event, "panic", p)
			}
		}()
		var arg any
		if len(args) > 0 {
			arg = args[0]
		}
		fn(arg)
	})
}

// Broadcast emits event with v to room ("" for every socket) on every node, through the
// server's hub channel. History is not kept: socket.io has no recovery here.
func (s *Server) Broadcast(ctx context.Context, room, event string, v any) error {
	if strings.ContainsRune(room, '\n') {
		return fmt.Errorf("sio: room %q holds a newline", room)
	}
	b, err := json.Marshal([]any{event, v})
	if err != nil {
		return fmt.Errorf("sio: encode %s: %w", event, err)
	}
	payload := make([]byte, 0, len(room)+1+len(b))
	payload = append(append(append(payload, room...), '\n'), b...)
	if _, err := s.hub.Publish(ctx, s.channel, payload, pubsub.PublishOptions{}); err != nil {
		return fmt.Errorf("sio: publish %s: %w", event, err)
	}
	return nil
}

// closeCommand, in place of an event's JSON (which is an array), closes a room's sockets.
var closeCommand = []byte("close")

// CloseRoom disconnects every socket in room, on every node (through the hub channel, as a
// broadcast), with socket.io's server disconnect, after which socket.io clients do not
// reconnect by themselves (a page reload would: revoke what it would identify with first).
func (s *Server) CloseRoom(ctx context.Context, room string) error {
	if room == "" || strings.ContainsRune(room, '\n') {
		return fmt.Errorf("sio: close room %q: a room name, without a newline", room)
	}
	payload := append(append([]byte(room), '\n'), closeCommand...)
	if _, err := s.hub.Publish(ctx, s.channel, payload, pubsub.PublishOptions{}); err != nil {
		return fmt.Errorf("sio: close room %s: %w", room, err)
	}
	return nil
}

// relay hands a channel's broadcasts to local rooms.
type relay struct{ s *Server }

func (r *relay) Deliver(ev *hub.Event) {
	if ev.Kind != hub.KindPublication {
		return
	}
	room, event, ok := bytes.Cut(ev.Pub.Data, []byte{'\n'})
	if !ok {
		r.s.log.Warn("socket.io relay: a publication without a room", "channel", r.s.channel)
		return
	}
	opts := &socket.BroadcastOptions{Rooms: types.NewSet[socket.Room](), Except: types.NewSet[socket.Room](), Flags: &socket.BroadcastFlags{}}
	if len(room) > 0 {
		opts.Rooms.Add(socket.Room(room))
	}
	if bytes.Equal(event, closeCommand) {
		// CloseRoom: every local socket of the room gets the server disconnect.
		r.s.io.In(socket.Room(room)).DisconnectSockets(false)
		return
	}
	// The event's JSON goes to the packet as it is: the library encodes the packet once for
	// every socket in the room.
	r.s.io.Sockets().Adapter().Broadcast(&parser.Packet{Type: parser.EVENT, Data: json.RawMessage(event)}, opts)
}

func (r *relay) Gap(ch string) {
	r.s.log.Warn("socket.io relay: the broker lost a publication", "channel", ch)
}

func (s *Server) relay(ctx context.Context, h *hub.Hub, channel string) error {
	sub, _, err := h.Subscribe(ctx, channel, &relay{s}, hub.SubscribeOptions{NoHistory: true})
	if err != nil {
		return fmt.Errorf("sio: relay %s: %w", channel, err)
	}
	sub.Ready()
	context.AfterFunc(ctx, func() { h.Unsubscribe(context.Background(), sub) })
	return nil
}
