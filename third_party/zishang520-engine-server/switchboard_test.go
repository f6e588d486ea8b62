package engine

// Tests of Switchboard's patches to the socket (see PATCHES.md).

import (
	"testing"

	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/servers/engine/v3/transports"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// frameTransport takes a broadcast's frames (the fast path) and records them.
type frameTransport struct {
	transports.Transport // only SendFrame is called
	got                  []*packet.Options
}

func (f *frameTransport) SendFrame(o *packet.Options) bool {
	f.got = append(f.got, o)
	return true
}

// TestSendFrameWaitsForBuffer: a broadcast's packet takes the fast path only while nothing
// waits in the socket's buffer (packets buffered during an upgrade go first, the buffered
// way), and never on a closed socket.
func TestSendFrameWaitsForBuffer(t *testing.T) {
	ft := &frameTransport{}
	s := &socket{writeBuffer: types.NewSlice[*packet.Packet]()}
	var tr transports.Transport = ft
	s.transport.Store(&tr)
	s.readyState.Store("open")
	o := &packet.Options{WsPreEncodedFrame: types.NewStringBufferString(`42["n",1]`), Shared: &packet.Shared{}}
	if !s.sendFrame(o) || len(ft.got) != 1 {
		t.Fatalf("an empty buffer: fast path %d frames, want 1", len(ft.got))
	}
	s.writeBuffer.Push(&packet.Packet{Type: packet.MESSAGE})
	if s.sendFrame(o) || len(ft.got) != 1 {
		t.Fatal("a broadcast's packet overtook a buffered one")
	}
	s.writeBuffer.Clear()
	s.readyState.Store("closed")
	if s.sendFrame(o) || len(ft.got) != 1 {
		t.Fatal("a closed socket took a frame")
	}
	var polling transports.Transport = transports.MakePolling()
	s.transport.Store(&polling)
	s.readyState.Store("open")
	if s.sendFrame(o) {
		t.Fatal("a transport that takes no frames took the fast path")
	}
}
