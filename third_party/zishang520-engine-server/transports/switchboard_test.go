package transports

// Tests of Switchboard's patches (see ../PATCHES.md).

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ws "github.com/gorilla/websocket"
	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// TestSharedPrepared: the recipients of one broadcast (one Shared holder) share one prepared
// message; another broadcast gets its own.
func TestSharedPrepared(t *testing.T) {
	frame := types.NewStringBufferString(`42["click",{"n":1}]`)
	one := &packet.Options{WsPreEncodedFrame: frame, Shared: &packet.Shared{}}
	first, err := prepared(ws.TextMessage, one)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := prepared(ws.TextMessage, one); again != first {
		t.Fatal("one broadcast was prepared twice")
	}
	other := &packet.Options{WsPreEncodedFrame: frame, Shared: &packet.Shared{}}
	if pm, _ := prepared(ws.TextMessage, other); pm == first {
		t.Fatal("another broadcast shares the prepared message")
	}
	if alone, err := prepared(ws.TextMessage, &packet.Options{WsPreEncodedFrame: frame}); err != nil || alone == first {
		t.Fatalf("a single send: %v", err)
	}
}

// countingConn counts the writes that reach the network.
type countingConn struct {
	net.Conn
	writes [][]byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

// TestGatherConn: between hold and release the frames go out as one write, in order; outside,
// each write goes through at once.
func TestGatherConn(t *testing.T) {
	under := &countingConn{}
	g := &GatherConn{Conn: under}
	_, _ = g.Write([]byte("handshake"))
	if len(under.writes) != 1 {
		t.Fatalf("a write outside hold was held back: %q", under.writes)
	}
	g.hold()
	for _, f := range []string{"a", "bb", "ccc"} {
		_, _ = g.Write([]byte(f))
	}
	if len(under.writes) != 1 {
		t.Fatal("a held write went out before release")
	}
	if err := g.release(); err != nil {
		t.Fatal(err)
	}
	if len(under.writes) != 2 || string(under.writes[1]) != "abbccc" {
		t.Fatalf("writes %q, want the three frames in one", under.writes)
	}
	g.hold()
	big := make([]byte, gatherMax+1)
	_, _ = g.Write([]byte("x"))
	_, _ = g.Write(big)
	_ = g.release()
	if len(under.writes) != 4 || string(under.writes[2]) != "x" || len(under.writes[3]) != len(big) {
		t.Fatalf("an oversize frame: %d writes", len(under.writes))
	}
}

// TestOutbound: the queue starts one writer when it goes from idle to busy, hands over what
// was queued in order, refuses a push that would outgrow its bound (and everything after),
// and a close while the writer runs waits for what was queued before it.
func TestOutbound(t *testing.T) {
	f := func(b string) frame { return frame{data: []byte(b), n: len(b)} }
	q := &outbound{max: 10}
	if start, ok := q.push([]frame{f("ab")}, 2); !start || !ok {
		t.Fatalf("first push: start %v ok %v, want the writer started", start, ok)
	}
	if start, ok := q.push([]frame{f("cd"), f("ef")}, 4); start || !ok {
		t.Fatalf("push while busy: start %v ok %v, want queued without a second writer", start, ok)
	}
	batch, then := q.take(nil)
	if len(batch) != 3 || string(batch[0].data) != "ab" || string(batch[2].data) != "ef" || then != nil {
		t.Fatalf("take: %d frames", len(batch))
	}
	if next, _ := q.take(batch); len(next) != 0 {
		t.Fatal("a second take found frames")
	}
	if cap(q.frames) < 3 {
		t.Fatal("the stopped writer's slice was not kept for the next push (an allocation per wake)")
	}
	batch = nil // the queue has it now, as a stopped writer's is dropped
	if start, _ := q.push([]frame{f("gh")}, 2); !start {
		t.Fatal("the writer stopped on an empty take, but a push did not restart it")
	}
	closed := false
	if !q.shut(func() { closed = true }) {
		t.Fatal("a close while the writer runs did not wait for it")
	}
	if _, ok := q.push([]frame{f("late")}, 4); !ok {
		t.Fatal("a push after close is dropped, not a slow consumer")
	}
	batch, then = q.take(batch)
	if len(batch) != 1 || string(batch[0].data) != "gh" || then != nil {
		t.Fatalf("after close: %d frames, want the one queued before it", len(batch))
	}
	if _, then = q.take(batch); then == nil {
		t.Fatal("the writer did not get the close to run")
	}
	then()
	if !closed {
		t.Fatal("close did not run")
	}

	over := &outbound{max: 10}
	over.push([]frame{f("12345678")}, 8)
	if _, ok := over.push([]frame{f("abc")}, 3); ok {
		t.Fatal("a push past the bound was accepted")
	}
	if b, _ := over.take(nil); len(b) != 0 || !over.isClosed() {
		t.Fatal("a slow consumer's queue was kept")
	}
	if _, ok := (&outbound{}).push([]frame{f(strings.Repeat("x", 1<<20))}, 1<<20); !ok {
		t.Fatal("a queue without a bound refused a push")
	}
}

// deadlineConn records the write deadlines that reach the network connection.
type deadlineConn struct {
	countingConn
	deadlines []time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.deadlines = append(c.deadlines, t)
	return nil
}

// TestGatherConnDeadline: while writes are held the connection keeps the deadline its writer
// gave it (gorilla sets one per frame, each re-arming a timer); the writer moves it only when
// it is near, or when a deadline set outside hold (a control frame's) replaced it.
func TestGatherConnDeadline(t *testing.T) {
	under := &deadlineConn{}
	g := &GatherConn{Conn: under}
	now := time.Now()
	_ = g.keepDeadline(now, 9*time.Second, 10*time.Second)                  // none yet: set
	_ = g.keepDeadline(now.Add(time.Second), 9*time.Second, 10*time.Second) // 9 s away: kept
	g.hold()
	_ = g.SetWriteDeadline(now.Add(time.Hour)) // gorilla's, per frame: ignored
	_ = g.release()
	control := now.Add(2 * time.Second)
	_ = g.SetWriteDeadline(control) // a control frame's, outside hold
	// Half a second on, the writer's own deadline would still be 9.5 s away; the control
	// frame's is 1.5 s away, and that is the one the connection has: moved.
	_ = g.keepDeadline(now.Add(500*time.Millisecond), 9*time.Second, 10*time.Second)
	want := []time.Time{now.Add(10 * time.Second), control, now.Add(500*time.Millisecond + 10*time.Second)}
	if len(under.deadlines) != len(want) {
		t.Fatalf("deadlines %v, want %v", under.deadlines, want)
	}
	for i := range want {
		if !under.deadlines[i].Equal(want[i]) {
			t.Fatalf("deadlines %v, want %v", under.deadlines, want)
		}
	}
}

// writeCounter counts the writes that reach the network, and passes them on.
type writeCounter struct {
	net.Conn
	writes atomic.Int32
}

func (c *writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// pipeTransport is a WebSocket transport over a GatherConn on an in-memory pipe, as the
// engine builds one after an upgrade, and the client's end.
func pipeTransport(t *testing.T) (Transport, *ws.Conn, *writeCounter) {
	t.Helper()
	clientRaw, serverRaw := net.Pipe()
	t.Cleanup(func() { _ = clientRaw.Close(); _ = serverRaw.Close() })
	dialed := make(chan *ws.Conn, 1)
	go func() {
		d := &ws.Dialer{NetDial: func(string, string) (net.Conn, error) { return clientRaw, nil }}
		c, resp, err := d.Dial("ws://localhost/socket.io/?EIO=4&transport=websocket", nil)
		if resp != nil {
			_ = resp.Body.Close()
		}
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	req, err := http.ReadRequest(bufio.NewReader(serverRaw))
	if err != nil {
		t.Fatal(err)
	}
	req = req.WithContext(t.Context())
	counter := &writeCounter{Conn: serverRaw}
	g := &GatherConn{Conn: counter}
	serverWS, err := (&ws.Upgrader{}).Upgrade(&hijackResponseWriter{conn: g}, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := <-dialed
	if client == nil {
		t.FailNow()
	}
	ctx := types.NewHttpContext(&hijackResponseWriter{conn: g}, req)
	ctx.Websocket = &types.WebSocketConn{EventEmitter: types.NewEventEmitter(), Conn: serverWS}
	return NewWebSocket(ctx), client, counter
}

// TestSendFrame: a broadcast's packet goes onto the queue as its shared prepared frame, in
// order with Sends, and only Sends report "drain"; a packet without a pre-encoded frame is
// refused, left to the parser's path.
func TestSendFrame(t *testing.T) {
	tr, client, _ := pipeTransport(t)
	drains := make(chan struct{}, 8)
	_ = tr.On("drain", func(...any) { drains <- struct{}{} })

	fs, ok := tr.(FrameSender)
	if !ok {
		t.Fatal("the WebSocket transport is not a FrameSender")
	}
	if fs.SendFrame(&packet.Options{}) {
		t.Fatal("a packet without a pre-encoded frame was taken")
	}
	shared := &packet.Options{WsPreEncodedFrame: types.NewStringBufferString(`42["n",1]`), Shared: &packet.Shared{}}
	if !fs.SendFrame(shared) || !fs.SendFrame(shared) {
		t.Fatal("a broadcast's packet was refused")
	}
	tr.Send([]*packet.Packet{{Type: packet.MESSAGE, Data: types.NewStringBufferString(`42["n",2]`)}})
	for _, want := range []string{`42["n",1]`, `42["n",1]`, `442["n",2]`} {
		_, got, err := client.ReadMessage()
		if err != nil || string(got) != want {
			t.Fatalf("read %q (%v), want %q", got, err, want)
		}
	}
	// Once the writer is idle every drain it will report has been reported: the Send's alone.
	for wait := time.Now().Add(10 * time.Second); !tr.(*websocket).out.idle(); time.Sleep(time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("the writer did not go idle")
		}
	}
	if n := len(drains); n != 1 {
		t.Fatalf("%d drains, want 1 (the Send's): a broadcast's frame reported drain", n)
	}
}

// idle reports whether the writer has stopped.
func (q *outbound) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.running
}

// TestWriterPause: what is queued while a woken writer pauses (a yield, or the write delay)
// goes out in its one write.
func TestWriterPause(t *testing.T) {
	tr, client, counter := pipeTransport(t)
	release := make(chan struct{})
	tr.(*websocket).pause = func() { <-release }
	before := counter.writes.Load()
	fs := tr.(FrameSender)
	for i := range 3 {
		fs.SendFrame(&packet.Options{WsPreEncodedFrame: types.NewStringBufferString(`42["n",` + string(rune('0'+i)) + `]`), Shared: &packet.Shared{}})
	}
	close(release)
	for i := range 3 {
		_, got, err := client.ReadMessage()
		if want := `42["n",` + string(rune('0'+i)) + `]`; err != nil || string(got) != want {
			t.Fatalf("read %q (%v), want %q", got, err, want)
		}
	}
	if n := counter.writes.Load() - before; n != 1 {
		t.Fatalf("%d writes for three frames queued during the pause, want 1", n)
	}
}

// TestWriteSpacing: with a write delay, a frame to a connection that has not written for
// longer than the delay goes out at once, and frames queued within the delay of the last write
// wait out the rest of it and share one write; the quiet spell counts from the last write, not
// from the end of the writer's wait after it. The clock and the waits are held by the test,
// not timed.
func TestWriteSpacing(t *testing.T) {
	const delay = time.Minute
	tr, client, counter := pipeTransport(t)
	w := tr.(*websocket)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	waits := make(chan time.Duration, 8)
	release := make(chan struct{})
	w.spacing = delay
	w.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	w.sleep = func(d time.Duration) {
		select {
		case waits <- d:
		default:
		}
		<-release
	}
	waited := func() {
		t.Helper()
		select {
		case d := <-waits:
			if d != delay {
				t.Fatalf("the writer waits %v after a write, want %v", d, delay)
			}
		case <-time.After(10 * time.Second): // a guard: a writer that does not wait fails, not hangs
			t.Fatal("the writer did not wait after a write")
		}
	}
	idle := func() bool { w.out.mu.Lock(); defer w.out.mu.Unlock(); return !w.out.running }
	fs := tr.(FrameSender)
	send := func(i int) {
		fs.SendFrame(&packet.Options{WsPreEncodedFrame: types.NewStringBufferString(`42["n",` + string(rune('0'+i)) + `]`), Shared: &packet.Shared{}})
	}
	read := func(i int) {
		t.Helper()
		_ = client.SetReadDeadline(time.Now().Add(10 * time.Second)) // a guard: a held write fails, not hangs
		_, got, err := client.ReadMessage()
		if want := `42["n",` + string(rune('0'+i)) + `]`; err != nil || string(got) != want {
			t.Fatalf("read %q (%v), want %q", got, err, want)
		}
	}
	before := counter.writes.Load()
	send(0) // the first write: nothing was written within the delay
	read(0)
	waited() // the writer waits the delay after it
	for i := 1; i <= 3; i++ {
		send(i)
	}
	advance(delay)
	release <- struct{}{}
	for i := 1; i <= 3; i++ {
		read(i)
	}
	if n := counter.writes.Load() - before; n != 2 {
		t.Fatalf("%d writes for a frame and three queued within the delay, want 2", n)
	}
	waited()
	advance(delay)
	release <- struct{}{} // nothing was queued: the writer stops
	for deadline := time.Now().Add(10 * time.Second); !idle(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) { // a guard, not a timing
			t.Fatal("the writer did not stop")
		}
	}
	advance(delay / 2)
	send(4) // 1.5 delays after the last write: at once
	read(4)
	// The wait after a write ends on a shared tick, a quarter of the delay (OnTick): 4 went out
	// on one, so the writer waits the delay; 5, a second after a tick, waits the delay and the
	// rest of that quarter.
	waited()
	advance(delay)
	release <- struct{}{}
	for deadline := time.Now().Add(10 * time.Second); !idle(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) { // a guard, not a timing
			t.Fatal("the writer did not stop")
		}
	}
	advance(2*delay + time.Second)
	send(5)
	read(5)
	select {
	case d := <-waits:
		if want := delay + delay/4 - time.Second; d != want {
			t.Fatalf("the writer waits %v after a write a second past a tick, want %v (to the tick after the delay)", d, want)
		}
	case <-time.After(10 * time.Second): // a guard
		t.Fatal("the writer did not wait after a write")
	}
	close(release)
}

// TestOnTick: a time is rounded up to a whole number of ticks since the Unix epoch, so
// writers due within one tick of each other wake together.
func TestOnTick(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // a whole number of seconds since the epoch
	tests := []struct {
		name string
		t    time.Time
		tick time.Duration
		want time.Time
	}{
		{"on a tick", base, 5 * time.Millisecond, base},
		{"just past a tick", base.Add(time.Nanosecond), 5 * time.Millisecond, base.Add(5 * time.Millisecond)},
		{"just before a tick", base.Add(5*time.Millisecond - time.Nanosecond), 5 * time.Millisecond, base.Add(5 * time.Millisecond)},
		// 1,767,225,601 s is 6 ms past a whole number of 7 ms ticks.
		{"a tick that does not divide a second", base.Add(time.Second), 7 * time.Millisecond, base.Add(time.Second + time.Millisecond)},
		{"no tick", base.Add(time.Nanosecond), 0, base.Add(time.Nanosecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OnTick(tt.t, tt.tick); !got.Equal(tt.want) {
				t.Errorf("OnTick(%v, %v) = %v, want %v", tt.t, tt.tick, got, tt.want)
			}
		})
	}
}

// TestWriteAfterControlFrame: a control frame (gorilla's pong, its close) sets the
// connection's write deadline outside hold, a second away; once that has passed, the next
// write still goes out, because the writer moves the deadline it did not set itself. The
// passed deadline is set directly, as a control frame leaves it a second later.
func TestWriteAfterControlFrame(t *testing.T) {
	tr, client, _ := pipeTransport(t)
	fs := tr.(FrameSender)
	send := func(text string) {
		t.Helper()
		fs.SendFrame(&packet.Options{WsPreEncodedFrame: types.NewStringBufferString(text), Shared: &packet.Shared{}})
		_ = client.SetReadDeadline(time.Now().Add(10 * time.Second)) // a guard: a lost write fails, not hangs
		if _, got, err := client.ReadMessage(); err != nil || string(got) != text {
			t.Fatalf("read %q (%v), want %q", got, err, text)
		}
	}
	send(`42["first"]`) // the writer sets its deadline, ten seconds away
	g := tr.(*websocket).socket.NetConn().(*GatherConn)
	if err := g.SetWriteDeadline(time.Now().Add(-time.Millisecond)); err != nil { // a control frame's, passed
		t.Fatal(err)
	}
	send(`42["after the control frame"]`)
}
