// Package ws serves one WebSocket connection: a read loop, a writer that runs only while
// there is something to write (batched), read and write deadlines, heartbeats, limits, and a
// close that flushes first.
package ws

import (
	"errors"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/zishang520/socket.io/servers/engine/v3/transports"

	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/metrics"
	"github.com/switchboard/switchboard/internal/transport"
)

// Close codes used by every app. 1001 is the standard "going away": on drain, clients are
// told to reconnect elsewhere.
const (
	CloseGoingAway   = websocket.CloseGoingAway
	CloseTooBig      = websocket.CloseMessageTooBig
	CloseUnsupported = websocket.CloseUnsupportedData
	ClosePolicy      = websocket.ClosePolicyViolation
	CloseInvalidUTF8 = websocket.CloseInvalidFramePayloadData
)

// Handler is what an app does with a connection's messages.
type Handler interface {
	// OnMessage is called from the read loop, one message at a time.
	OnMessage(c *Conn, data []byte)
	// OnClose is called once, after the connection is closed.
	OnClose(c *Conn, code int, reason string)
}

// Options are shared by every connection of one endpoint.
type Options struct {
	App          string        // the app the connections serve, as the console shows it
	ReadLimit    int64         // largest message accepted; a larger one closes with 1009
	QueueBytes   int           // outbound bytes queued before the connection is cut off as slow
	WriteTimeout time.Duration // one write
	ReadTimeout  time.Duration // silence allowed from the client (ping interval + pong timeout)
	// WriteDelay is the least time between the starts of two writes to one connection, so
	// that messages arriving meanwhile share one frame and one syscall: throughput for
	// latency, paid only by a connection sent to continuously (after a quiet spell longer
	// than the delay, a write goes at once). 0 writes at once.
	WriteDelay time.Duration
	// Batch joins queued messages into one text frame, separated by "\n" (the native
	// protocol allows it); otherwise each message is its own frame.
	Batch bool
	// Ping is queued as a text message on every heartbeat; nil sends a WebSocket ping frame.
	Ping []byte
	// Goodbye is queued before the close frame on shutdown.
	Goodbye []byte
	// clock is the writer's spacing's time (NewServer sets the real one); a test holds it.
	clock clock
	// Binary accepts binary frames; otherwise they close the connection with 1003.
	Binary bool
	// SlowCloseCode closes a connection whose queue overflowed; 0 means 1008.
	SlowCloseCode int
	Registry      *transport.Registry
	// CheckOrigin decides cross-origin upgrades; nil allows all.
	CheckOrigin func(r *http.Request) bool
}

// Conn is one WebSocket connection.
type Conn struct {
	ws   *websocket.Conn
	opts *Options
	h    Handler
	q    *hub.Queue
	ip   string

	// Value is the app's own state for this connection.
	Value any

	cutSlow     func() // made once: Offer takes it on every send
	closeOnce   sync.Once
	closeCode   atomic.Int32
	closeReason atomic.Pointer[string]
	writeErr    atomic.Bool
	// lastWrite is when the last write started (with a WriteDelay). Only the writer touches
	// it, and one writer runs at a time (the queue's idle-to-busy wake orders them).
	lastWrite time.Time
}

var _ transport.Conn = (*Conn)(nil)

// upgrader is shared: its write buffers come from a pool, so an idle connection holds none.
func (o *Options) upgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin: func(r *http.Request) bool {
			if o.CheckOrigin == nil {
				return true
			}
			return o.CheckOrigin(r)
		},
	}
}

// Server upgrades requests for one endpoint.
type Server struct {
	opts     *Options
	upgrader *websocket.Upgrader
}

// NewServer returns an upgrader with opts.
func NewServer(opts Options) *Server {
	o := opts
	if o.clock == nil {
		o.clock = realClock{}
	}
	return &Server{opts: &o, upgrader: o.upgrader()}
}

// Accept upgrades the request, registers the connection and starts its read loop; it returns
// without waiting, so net/http can free what it held for the request. setup runs before the
// first message is read, to attach app state. On refusal it has already answered w.
func (s *Server) Accept(w http.ResponseWriter, r *http.Request, h Handler, setup func(*Conn)) (*Conn, error) {
	ip := httpx.ClientIP(r)
	// Take the slot before upgrading: over-limit clients get a plain HTTP 429, and the limit
	// holds while this handshake is in flight.
	slot, err := s.opts.Registry.Reserve(ip)
	if err != nil {
		transport.Refuse(w, err)
		return nil, err
	}
	// The connection reads and writes with raw syscalls: ordinary ones woke the runtime's
	// sysmon out of its sleep on every burst (see transports.RawSyscallConn).
	conn, err := s.upgrader.Upgrade(transports.RawResponse{ResponseWriter: w}, r, nil)
	if err != nil {
		s.opts.Registry.Release(slot)
		return nil, err // the upgrader has answered with a 4xx
	}
	c := &Conn{ws: conn, opts: s.opts, h: h, ip: ip}
	c.q = hub.NewQueue(s.opts.QueueBytes, c.wake)
	c.cutSlow = func() {
		metrics.Disconnects.WithLabelValues("slow").Inc()
		code := c.opts.SlowCloseCode
		if code == 0 {
			code = ClosePolicy
		}
		c.setClose(code, "slow consumer")
	}
	if err := s.opts.Registry.Attach(slot, c); err != nil {
		// Draining began during the handshake.
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseGoingAway, err.Error()), time.Now().Add(s.opts.WriteTimeout))
		_ = conn.Close()
		return nil, err
	}
	conn.SetReadLimit(s.opts.ReadLimit)
	conn.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(c.opts.ReadTimeout)) })
	metrics.Connections.WithLabelValues("ws").Inc()
	if setup != nil {
		setup(c)
	}
	go c.readLoop()
	return c, nil
}

// Describe is the connection's app and transport.
func (c *Conn) Describe() (string, string) { return c.opts.App, "websocket" }

// IP returns the client's address.
func (c *Conn) IP() string { return c.ip }

func (c *Conn) readLoop() {
	code, reason := websocket.CloseNormalClosure, ""
	defer func() { c.finish(code, reason) }()
	for {
		if err := c.ws.SetReadDeadline(time.Now().Add(c.opts.ReadTimeout)); err != nil {
			return
		}
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			code, reason = classify(err)
			return
		}
		if c.closeCode.Load() != 0 {
			// The server has decided to close: keep reading only to see the client's close
			// frame, and act on nothing more it sends.
			continue
		}
		if mt == websocket.BinaryMessage && !c.opts.Binary {
			c.Close(CloseUnsupported, "binary frames are not accepted")
			continue
		}
		if mt == websocket.TextMessage && !utf8.Valid(data) {
			// RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection with 1007.
			// gorilla leaves the check to us.
			c.Close(CloseInvalidUTF8, "text frame is not valid UTF-8")
			continue
		}
		c.h.OnMessage(c, data)
	}
}

// classify turns a read error into the close code the app is told.
func classify(err error) (int, string) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return ce.Code, ce.Text
	case errors.Is(err, websocket.ErrReadLimit):
		return CloseTooBig, "message too big"
	case errors.As(err, &ne) && ne.Timeout():
		metrics.Disconnects.WithLabelValues("no_pong").Inc()
		return websocket.CloseAbnormalClosure, "no ping response"
	default:
		return websocket.CloseAbnormalClosure, "connection lost"
	}
}

// Send queues b without blocking; false means the connection is closed or too slow (it is
// then being closed with 1008 "slow consumer").
func (c *Conn) Send(b []byte) bool { return c.q.Offer(b, c.cutSlow) }

// Close queues a close frame with code and reason after what is already queued; later sends
// are dropped. It does not block.
func (c *Conn) Close(code int, reason string) {
	c.setClose(code, reason)
	c.q.Close(false)
}

func (c *Conn) setClose(code int, reason string) {
	if c.closeCode.CompareAndSwap(0, int32(code)) {
		c.closeReason.Store(&reason)
	}
}

// Heartbeat queues a ping.
func (c *Conn) Heartbeat() {
	if c.opts.Ping != nil {
		c.Send(c.opts.Ping)
		return
	}
	// Control frames may be written concurrently with the writer (gorilla allows it).
	_ = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opts.WriteTimeout))
}

// Shutdown closes with 1001 after flushing.
func (c *Conn) Shutdown() {
	metrics.Disconnects.WithLabelValues("shutdown").Inc()
	if c.opts.Goodbye != nil {
		_ = c.q.Push(c.opts.Goodbye)
	}
	c.Close(CloseGoingAway, "server shutting down")
}

// batches recycles the writers' batch slices: a writer lives only while it has something to
// write, so without the pool every wake would allocate one, on the fan-out path.
var batches = sync.Pool{New: func() any { b := make([][]byte, 0, 16); return &b }}

// maxPooledBatch caps the slices kept in the pool.
const maxPooledBatch = 1024

// wake starts the writer; the queue calls it when it goes from idle to busy, so at most one
// writer runs per connection, and none while the connection is idle.
func (c *Conn) wake() { go c.writeLoop() }

func (c *Conn) writeLoop() {
	// Yield twice before writing. On an idle server this costs about a microsecond; under
	// load it sends the writer behind every other runnable goroutine, so messages gather
	// meanwhile and one write carries many: coalescing that grows with load. (Measured: one
	// channel to 10k subscribers at 50 msg/s collapsed without it, with publishes timing out;
	// with one yield 408k deliveries/s, with two 494k/s, latency unchanged.)
	runtime.Gosched()
	runtime.Gosched()
	bp := batches.Get().(*[][]byte)
	batch := (*bp)[:0]
	defer func() {
		if cap(batch) <= maxPooledBatch { // a burst's huge slice is left to the collector
			*bp = batch[:0]
			batches.Put(bp)
		}
	}()
	for {
		c.space()
		var state hub.TakeState
		batch, state = c.q.Take(batch[:0])
		switch state {
		case hub.Idle:
			return
		case hub.Drained:
			c.sendClose()
			return
		}
		if c.writeErr.Load() {
			continue // the socket is gone; keep taking so the queue drains and closes
		}
		if c.opts.WriteDelay > 0 {
			c.lastWrite = c.opts.clock.Now()
		}
		if err := c.write(batch); err != nil {
			c.writeErr.Store(true)
			metrics.Disconnects.WithLabelValues("write_error").Inc()
			c.setClose(websocket.CloseAbnormalClosure, "write failed")
			c.q.Close(true)
			_ = c.ws.NetConn().Close()
		}
		clear(batch)
	}
}

// space waits until the write delay has passed since the last write started, so a
// connection writes at most once per delay and what is queued meanwhile shares the next write.
// A writer woken after a quiet spell longer than the delay writes at once. After a write it
// waits even with nothing queued (then stops): a check for an empty queue would race a
// message queued just after it, which would then go out unspaced.
//
// The wait ends on a tick shared by every connection (transports.OnTick, the socket.io
// engine's, whose writer does the same), a quarter of the delay: each writer's own deadline
// was its own timer expiry, and each expiry woke the runtime (the scheduler, and sysmon out
// of its sleep). On shared ticks the writers due together wake together. A write waits up
// to a quarter of the delay longer.
func (c *Conn) space() {
	if c.opts.WriteDelay <= 0 {
		return
	}
	now := c.opts.clock.Now()
	if due := c.lastWrite.Add(c.opts.WriteDelay); due.After(now) {
		c.opts.clock.Sleep(transports.OnTick(due, c.opts.WriteDelay/4).Sub(now))
	}
}

// clock is time.Now and time.Sleep.
type clock interface {
	Now() time.Time
	Sleep(time.Duration)
}

type realClock struct{}

func (realClock) Now() time.Time        { return time.Now() }
func (realClock) Sleep(d time.Duration) { time.Sleep(d) }

func (c *Conn) write(batch [][]byte) error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout)); err != nil {
		return err
	}
	if !c.opts.Batch {
		for _, b := range batch {
			if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
				return err
			}
		}
		return nil
	}
	w, err := c.ws.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	for i, b := range batch {
		if i > 0 {
			if _, err := w.Write(newline); err != nil {
				return err
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return w.Close()
}

var newline = []byte{'\n'}

// sendClose writes the close frame once the queue is flushed; the read loop then sees the
// client's answering close frame, or the socket is closed after a grace period.
func (c *Conn) sendClose() {
	code := int(c.closeCode.Load())
	reason := ""
	if p := c.closeReason.Load(); p != nil {
		reason = *p
	}
	if !c.writeErr.Load() {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(c.opts.WriteTimeout))
	}
	time.AfterFunc(closeGrace, func() { _ = c.ws.NetConn().Close() })
}

// closeGrace is how long a client has to answer a close frame before the socket is closed.
const closeGrace = 2 * time.Second

func (c *Conn) finish(code int, reason string) {
	c.closeOnce.Do(func() {
		if sc := int(c.closeCode.Load()); sc != 0 {
			code = sc
			if p := c.closeReason.Load(); p != nil {
				reason = *p
			}
		}
		c.q.Close(true)
		_ = c.ws.NetConn().Close()
		c.opts.Registry.Remove(c)
		metrics.Connections.WithLabelValues("ws").Dec()
		c.h.OnClose(c, code, reason)
	})
}
