package transports

// Tests of Switchboard's patches (see ../PATCHES.md).

import (
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
