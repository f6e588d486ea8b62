package transports

// Switchboard patch (see ../PATCHES.md): a WebSocket connection's writes go through a bounded
// queue and one writer that runs only while there is something to write, as Switchboard's
// native WebSocket connections do. Upstream, every Send was a task on a queue with no bound:
// a client that stopped reading held a server-side backlog that grew without limit, and each
// delivery paid a task, a goroutine hand-off and a "ready" round trip through the socket.

import (
	"errors"
	"runtime"
	"sync"
	"time"

	ws "github.com/gorilla/websocket"
	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
)

// ErrSlowConsumer is the transport error of a connection whose outbound queue outgrew its
// bound: the client does not read as fast as it is sent to. The connection is closed; the
// socket closes with reason "transport error" and this error as its description.
var ErrSlowConsumer = errors.New("slow consumer: outbound queue full")

// WriteTimeout bounds one gathered write; a peer that takes no bytes for this long is cut off.
const WriteTimeout = 10 * time.Second

// frame is one queued WebSocket message: a broadcast's shared prepared message, or a message
// of this connection's own. last marks the final frame of one Send, whose "drain" is emitted
// once it is written.
type frame struct {
	pm   *ws.PreparedMessage
	mt   int
	data []byte
	comp bool
	n    int // bytes counted against the queue's bound
	last bool
}

// outbound is a connection's queue. Send appends and starts the writer when the queue goes
// from idle to busy; the writer takes everything queued, writes it in one syscall (through
// GatherConn), and emits one "drain" per Send written.
type outbound struct {
	mu      sync.Mutex
	frames  []frame
	bytes   int
	max     int // 0: no bound
	running bool
	closed  bool
	// onClose, set by a close while the writer runs, is called once the writer has written
	// what was queued before it.
	onClose func()
}

// push queues fs; it reports whether the writer must be started, and false for ok when the
// queue would outgrow its bound (nothing is queued then).
func (q *outbound) push(fs []frame, n int) (start, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, true
	}
	if q.max > 0 && q.bytes+n > q.max {
		q.closed = true
		q.frames, q.bytes = nil, 0
		return false, false
	}
	q.frames = append(q.frames, fs...)
	q.bytes += n
	if q.running {
		return false, true
	}
	q.running = true
	return true, true
}

// maxSpareFrames bounds the slice an idle queue keeps for its next push.
const maxSpareFrames = 64

// take swaps the queue for dst (emptied); with nothing queued it stops the writer and returns
// the close to run, if one waits.
func (q *outbound) take(dst []frame) ([]frame, func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.frames) == 0 {
		q.running = false
		fn := q.onClose
		q.onClose = nil
		// The writer stops: the next push appends into its slice instead of a new one (a
		// wake per delivery made this an allocation per delivery). A burst's large slice is
		// left to the collector.
		if cap(q.frames) == 0 && cap(dst) <= maxSpareFrames {
			q.frames = dst[:0]
		}
		return nil, fn
	}
	out := q.frames
	q.frames, q.bytes = dst[:0], 0
	return out, nil
}

// shut refuses further frames. With the writer running, then runs once what was queued is
// written (true is returned); otherwise the queue is dropped and the caller runs it.
func (q *outbound) shut(then func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	if q.running && then != nil {
		q.onClose = then
		return true
	}
	q.frames, q.bytes = nil, 0
	return false
}

func (q *outbound) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// yield is a woken writer's pause by default: yield twice, so that under load the writer
// goes behind every other runnable goroutine and what is sent meanwhile shares its write
// (coalescing that grows with load; on an idle server this costs about a microsecond). The
// native connections do the same.
func yield() {
	runtime.Gosched()
	runtime.Gosched()
}

// space waits until the write delay has passed since the last write started: a connection
// writes at most once per delay, and what is sent meanwhile shares the next write. A writer
// woken after a quiet spell longer than the delay writes at once, so the delay costs latency
// only to a connection that is sent to continuously, and there it buys fewer syscalls. After
// a write it waits even with nothing queued (then stops): a check for an empty queue would
// race a frame queued just after it, which would then go out unspaced.
//
// The wait ends on a tick shared by every connection (OnTick): a quarter of the delay, counted
// from the Unix epoch. Each writer's own deadline had its own timer expiry, and each expiry
// woke the runtime (the scheduler, and sysmon out of its sleep, about 20 µs a wake on this
// VM): 8,000 expiries a second at 200 clicks/s to 200 sockets with a 25 ms delay, and sysmon
// alone took a sixth of the server's CPU. On ticks they expire together, a few hundred times
// a second. A write waits up to a quarter of the delay longer.
func (w *websocket) space() {
	if w.spacing <= 0 {
		return
	}
	now := w.now()
	if due := w.lastWrite.Add(w.spacing); due.After(now) {
		w.sleep(OnTick(due, w.spacing/4).Sub(now))
	}
}

// OnTick is t rounded up to a whole number of ticks since the Unix epoch. Switchboard's
// native WebSocket writer spaces its writes on the same ticks.
func OnTick(t time.Time, tick time.Duration) time.Time {
	if tick <= 0 {
		return t
	}
	if r := time.Duration(t.UnixNano() % int64(tick)); r > 0 {
		return t.Add(tick - r)
	}
	return t
}

// writeLoop writes until the queue is empty.
func (w *websocket) writeLoop() {
	w.pause()
	var batch []frame
	for {
		w.space()
		var then func()
		batch, then = w.out.take(batch)
		if len(batch) == 0 {
			if then != nil {
				then()
			}
			return
		}
		if w.spacing > 0 {
			w.lastWrite = w.now()
		}
		sends, err := w.writeFrames(batch)
		clear(batch)
		if err != nil {
			w.out.shut(nil)
			w._error(err)
			return
		}
		for range sends {
			w.Emit("drain")
		}
	}
}

// FrameSender is a transport that takes a broadcast's packet straight onto its outbound
// queue. The socket's fast path uses it for packets that share a pre-encoded frame: no packet
// is buffered, and no "packetCreate", "flush" or "drain" event is emitted for them. Those
// events were most of a broadcast's cost per recipient, and neither socket.io nor
// Switchboard listens to them.
type FrameSender interface {
	SendFrame(o *packet.Options) bool
}

// writeFrames writes batch in one syscall and counts the Sends it completes.
func (w *websocket) writeFrames(batch []frame) (sends int, err error) {
	g, gathering := w.socket.NetConn().(*GatherConn)
	if gathering {
		// The deadline moves only when it is under 9 s away (so a write has 9 to 10 s):
		// moving it re-arms a runtime timer, a cost per write that showed in profiles.
		if err := g.keepDeadline(time.Now(), WriteTimeout-time.Second, WriteTimeout); err != nil {
			return 0, err
		}
		g.hold()
	} else {
		_ = w.socket.SetWriteDeadline(time.Now().Add(WriteTimeout))
	}
	for i := range batch {
		f := &batch[i]
		if err == nil {
			switch {
			case f.pm != nil:
				err = w.socket.WritePreparedMessage(f.pm)
			case f.data != nil:
				w.socket.EnableWriteCompression(f.comp)
				err = w.socket.WriteMessage(f.mt, f.data)
			}
		}
		if f.last {
			sends++
		}
	}
	if gathering {
		if rerr := g.release(); err == nil {
			err = rerr
		}
	}
	return sends, err
}
