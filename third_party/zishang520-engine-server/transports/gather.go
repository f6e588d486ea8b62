package transports

// Switchboard patch (see ../PATCHES.md): gathered writes for WebSocket connections.

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// gatherMax bounds what a connection holds back before writing.
const gatherMax = 64 << 10

var gatherBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// GatherConn is a hijacked connection whose writes between hold and release are gathered into
// one: each WebSocket frame was its own write syscall (about 6 µs on loopback here, the largest
// cost of a socket.io delivery). A Send carries every packet that queued while the previous
// Send was written, so under load one write carries many frames. Outside hold and release,
// writes go straight through (the handshake, and control frames the reading goroutine writes).
// The buffer is pooled, so an idle connection holds none.
type GatherConn struct {
	net.Conn
	// QueueBytes bounds the connection's outbound queue (0: no bound); see outbound.go.
	QueueBytes int
	// WriteDelay is the least time between the starts of two of the connection's writes.
	WriteDelay time.Duration
	mu         sync.Mutex
	held       bool
	buf        *[]byte
	deadline   time.Time // the write deadline last set on the connection
}

func (g *GatherConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.held {
		return g.Conn.Write(p)
	}
	if len(*g.buf)+len(p) > gatherMax {
		if err := g.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > gatherMax {
			return g.Conn.Write(p)
		}
	}
	*g.buf = append(*g.buf, p...)
	return len(p), nil
}

// SetWriteDeadline moves the connection's write deadline, except while writes are held: the
// gathered write keeps the deadline its writer gave it (keepDeadline). gorilla sets the
// deadline again for every frame it writes, and each set re-arms a runtime timer. A deadline
// set outside hold (a control frame's, a second away) is recorded, so that the writer moves
// it again before its next write.
func (g *GatherConn) SetWriteDeadline(t time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held {
		return nil
	}
	g.deadline = t
	return g.Conn.SetWriteDeadline(t)
}

// keepDeadline gives the connection a write deadline at least least away from now, moving it
// to most away only when it is nearer (or there is none).
func (g *GatherConn) keepDeadline(now time.Time, least, most time.Duration) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.deadline.IsZero() && g.deadline.Sub(now) >= least {
		return nil
	}
	g.deadline = now.Add(most)
	return g.Conn.SetWriteDeadline(g.deadline)
}

// hold starts gathering.
func (g *GatherConn) hold() {
	g.mu.Lock()
	g.held = true
	if g.buf == nil {
		g.buf = gatherBufs.Get().(*[]byte)
	}
	g.mu.Unlock()
}

// release writes what was gathered and lets writes through again.
func (g *GatherConn) release() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held = false
	err := g.flushLocked()
	if g.buf != nil {
		*g.buf = (*g.buf)[:0]
		gatherBufs.Put(g.buf)
		g.buf = nil
	}
	return err
}

func (g *GatherConn) flushLocked() error {
	if g.buf == nil || len(*g.buf) == 0 {
		return nil
	}
	_, err := g.Conn.Write(*g.buf)
	*g.buf = (*g.buf)[:0]
	return err
}

// GatherResponse makes a WebSocket upgrade hijack a GatherConn.
type GatherResponse struct {
	http.ResponseWriter
	QueueBytes int           // the connection's outbound bound
	WriteDelay time.Duration // the least time between two writes (see websocket.space)
}

// Hijack hands the connection over wrapped in a GatherConn, with raw syscalls (RawSyscallConn).
func (r GatherResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := hijack(r.ResponseWriter)
	if err != nil {
		return nil, nil, err
	}
	return &GatherConn{Conn: RawSyscallConn(c), QueueBytes: r.QueueBytes, WriteDelay: r.WriteDelay}, brw, nil
}
