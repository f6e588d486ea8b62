// Package transports implements the WebSocket transport for Engine.IO.
package transports

import (
	"errors"
	"io"
	"net"
	"time"

	ws "github.com/gorilla/websocket"
	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/v3/pkg/log"
	"github.com/zishang520/socket.io/v3/pkg/slices"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

var wsLog = log.NewLog("engine:ws")

type websocket struct {
	Transport

	idleTimeout time.Duration

	socket *types.WebSocketConn
	out    outbound // Switchboard patch: replaces upstream's unbounded write queue
	// pause is what a woken writer does before it first takes its queue: yield.
	pause func()
	// spacing (the write delay) is the least time between two writes' starts; lastWrite is
	// when the last one started. Only the writer touches lastWrite, and one writer runs at a
	// time (the queue's running flag orders them).
	spacing   time.Duration
	lastWrite time.Time
	sleep     func(time.Duration) // time.Sleep; a test holds it
	now       func() time.Time    // time.Now; a test holds it
}

// WebSocket transport
func MakeWebSocket() Websocket {
	w := &websocket{Transport: MakeTransport()}

	w.Prototype(w)

	return w
}

func NewWebSocket(ctx *types.HttpContext) Websocket {
	w := MakeWebSocket()

	w.Construct(ctx)

	return w
}

func (w *websocket) Construct(ctx *types.HttpContext) {
	w.Transport.Construct(ctx)

	w.idleTimeout = ctx.IdleTimeout
	w.socket = ctx.Websocket
	w.pause, w.sleep, w.now = yield, time.Sleep, time.Now
	if g, ok := w.socket.NetConn().(*GatherConn); ok {
		w.out.max = g.QueueBytes
		w.spacing = g.WriteDelay
	}

	_ = w.socket.On("error", func(errs ...any) {
		w.OnError("websocket error", slices.TryGetAny[error](errs, 0))
	})
	_ = w.socket.Once("close", func(...any) {
		w.OnClose()
	})

	w.SetWritable(true)
	w.SetPerMessageDeflate(nil)

	StartReader(w, ctx.TransportReadPermission(), w.message)
}

// Transport name
func (w *websocket) Name() string {
	return WEBSOCKET
}

// Advertise upgrade support.
func (w *websocket) HandlesUpgrades() bool {
	return true
}

func (w *websocket) _error(err error) {
	if ws.IsUnexpectedCloseError(err) || errors.Is(err, net.ErrClosed) {
		w.socket.Emit("close")
	} else {
		w.socket.Emit("error", err)
	}
}

// Receiving Messages
func (w *websocket) message() {
	// Guarantee cleanup on any exit path — covers errors that _error()
	// routes as "error" (not "close") on the socket and any future paths
	// that return without calling _error at all.
	defer func() {
		if !w.out.isClosed() {
			w.socket.Emit("close")
		}
	}()

	for {
		if w.idleTimeout > 0 {
			_ = w.socket.SetReadDeadline(time.Now().Add(w.idleTimeout))
		}
		mt, message, err := w.socket.NextReader()
		if err != nil {
			w._error(err)
			return
		}

		switch mt {
		case ws.BinaryMessage:
			read := types.NewBytesBuffer(nil)
			if _, err := read.ReadFrom(message); err != nil {
				w._error(err)
			} else {
				w.onMessage(read)
			}
		case ws.TextMessage:
			read := types.NewStringBuffer(nil)
			if _, err := read.ReadFrom(message); err != nil {
				w._error(err)
			} else {
				w.onMessage(read)
			}
		case ws.CloseMessage:
			w.socket.Emit("close")
			if c, ok := message.(io.Closer); ok {
				_ = c.Close()
			}
			return
		case ws.PingMessage:
		case ws.PongMessage:
		}
		if c, ok := message.(io.Closer); ok {
			_ = c.Close()
		}
	}
}

func (w *websocket) onMessage(data types.BufferInterface) {
	wsLog.Debug(`websocket received "%s"`, data)
	w.OnData(data)
}

// Writes a packet payload.
//
// Switchboard patch: the packets are queued on the connection's bounded outbound queue (see
// outbound.go) and written by its writer; the transport stays writable, and "drain" is
// emitted once they are written. A Send that would outgrow the bound closes the connection
// with ErrSlowConsumer instead.
func (w *websocket) Send(packets []*packet.Packet) {
	// Most Sends carry one packet: their frames stay on the stack (push copies them).
	var buf [4]frame
	fs := buf[:0]
	n := 0
	for _, p := range packets {
		f, err := w.frame(p)
		if err != nil {
			wsLog.Debug(`Send Error "%s"`, err.Error())
			go w._error(err)
			return
		}
		n += f.n
		fs = append(fs, f)
	}
	if len(fs) == 0 {
		fs = append(fs, frame{}) // still one "drain", as upstream
	}
	fs[len(fs)-1].last = true
	w.enqueue(fs, n)
}

// SendFrame queues a broadcast's packet, which carries its pre-encoded frame and the holder
// its recipients share the prepared message in, with no "drain" once it is written: the
// socket's fast path (Switchboard patch; see FrameSender). It reports false, having queued
// nothing, for a packet that needs the parser (no pre-encoded frame, or per-message deflate).
func (w *websocket) SendFrame(o *packet.Options) bool {
	if o == nil || o.WsPreEncodedFrame == nil || w.PerMessageDeflate() != nil {
		return false
	}
	f, err := preparedFrame(o)
	if err != nil {
		wsLog.Debug(`SendFrame Error "%s"`, err.Error())
		go w._error(err)
		return true
	}
	w.enqueue([]frame{f}, f.n)
	return true
}

// enqueue puts fs on the outbound queue and starts the writer if it was idle.
func (w *websocket) enqueue(fs []frame, n int) {
	start, ok := w.out.push(fs, n)
	if !ok {
		// Not on the caller's goroutine: it holds the socket's flush lock, which closing takes.
		// The error first, so the socket closes with it as its reason.
		go func() {
			w.OnError("slow consumer", ErrSlowConsumer)
			_ = w.socket.Close()
		}()
		return
	}
	if start {
		go w.writeLoop()
	}
}

// frame encodes one packet for the queue: a broadcast's pre-encoded frame as the prepared
// message its recipients share, any other packet by the parser.
func (w *websocket) frame(p *packet.Packet) (frame, error) {
	compress := true
	if o := p.Options; o != nil {
		if o.Compress != nil && !*o.Compress {
			compress = false
		}
		if w.PerMessageDeflate() == nil && o.WsPreEncodedFrame != nil {
			return preparedFrame(o)
		}
	}
	data, err := w.Parser().EncodePacket(p, w.SupportsBinary())
	if err != nil {
		return frame{}, err
	}
	if pmd := w.PerMessageDeflate(); pmd != nil && data.Len() < pmd.Threshold {
		compress = false
	}
	mt := ws.BinaryMessage
	if _, ok := data.(*types.StringBuffer); ok {
		mt = ws.TextMessage
	}
	b := data.Bytes()
	if b == nil {
		b = []byte{}
	}
	return frame{mt: mt, data: b, comp: compress, n: len(b)}, nil
}

// preparedFrame is the frame of a packet with a pre-encoded frame: the prepared message its
// broadcast's recipients share.
func preparedFrame(o *packet.Options) (frame, error) {
	mt := ws.BinaryMessage
	if _, ok := o.WsPreEncodedFrame.(*types.StringBuffer); ok {
		mt = ws.TextMessage
	}
	pm, err := prepared(mt, o)
	if err != nil {
		return frame{}, err
	}
	return frame{pm: pm, n: o.WsPreEncodedFrame.Len()}, nil
}

// OnClose releases the write queue and hijacked connection for every close path,
// including peer/error closes that bypass DoClose after the state becomes closed.
func (w *websocket) OnClose() {
	w.out.shut(nil)
	w.Transport.OnClose()
	_ = w.socket.Close()
}

// Closes the transport. Switchboard patch: what was queued before is written first (upstream
// dropped it).
func (w *websocket) DoClose(fn types.Callable) {
	wsLog.Debug(`closing`)
	closeNow := func() {
		defer func() { _ = w.socket.Close() }()
		if fn != nil {
			fn()
		}
	}
	if !w.out.shut(closeNow) {
		closeNow()
	}
}

// prepared is the broadcast's WebSocket message, built by the first of its recipients and
// written by all (Switchboard patch: each recipient built its own, 21% of server CPU in a
// profile of the counter's broadcasts). Without a Shared holder (a single send) it is built
// for this send alone.
func prepared(mt int, o *packet.Options) (*ws.PreparedMessage, error) {
	build := func() (any, error) { return ws.NewPreparedMessage(mt, o.WsPreEncodedFrame.Bytes()) }
	if o.Shared == nil {
		pm, err := build()
		if err != nil {
			return nil, err
		}
		return pm.(*ws.PreparedMessage), nil
	}
	pm, err := o.Shared.Do(build)
	if err != nil {
		return nil, err
	}
	return pm.(*ws.PreparedMessage), nil
}
