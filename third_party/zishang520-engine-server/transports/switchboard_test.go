package transports

// Tests of Switchboard's patches (see ../PATCHES.md).

import (
	"net"
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
