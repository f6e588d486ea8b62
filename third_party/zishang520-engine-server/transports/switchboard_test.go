package transports

// Tests of Switchboard's patches (see ../PATCHES.md).

import (
	"net"
	"testing"

	ws "github.com/gorilla/websocket"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// TestSharedPrepared: the recipients of one broadcast (one buffer) share one prepared
// message; another buffer, or the same buffer refilled with other bytes, gets its own.
func TestSharedPrepared(t *testing.T) {
	a := types.NewStringBufferString(`42["click",{"n":1}]`)
	first, err := sharedPrepared(ws.TextMessage, a)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := sharedPrepared(ws.TextMessage, a)
	if again != first {
		t.Fatal("the same broadcast was prepared twice")
	}
	b := types.NewStringBufferString(`42["click",{"n":1}]`)
	if other, _ := sharedPrepared(ws.TextMessage, b); other == first {
		t.Fatal("another buffer shares the prepared message")
	}
	a.Reset()
	a.WriteString(`42["click",{"n":2}]`)
	if refilled, _ := sharedPrepared(ws.TextMessage, a); refilled == first {
		t.Fatal("a refilled buffer was taken for the message it held before")
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
