package transports

// Tests of Switchboard's patches (see ../PATCHES.md).

import (
	"net"
	"strings"
	"testing"

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
	if batch, _ = q.take(batch); len(batch) != 0 {
		t.Fatal("a second take found frames")
	}
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
