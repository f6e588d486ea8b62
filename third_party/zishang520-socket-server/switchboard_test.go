package socket

// Tests of Switchboard's patches (see PATCHES.md).

import (
	"encoding/json"
	"testing"

	"github.com/zishang520/socket.io/v3/pkg/types"
)

func TestASCIIJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`42["a",{"b":1}]`, `42["a",{"b":1}]`},
		{`42["click",{"user":"Zoë🎉"}]`, `42["click",{"user":"Zo\u00eb\ud83c\udf89"}]`},
		{`42/chat,7["ç"]`, `42/chat,7["\u00e7"]`},
		{`42/ä,["x"]`, `42/ä,["x"]`}, // non-ASCII before the JSON: left alone
	} {
		out := asciiJSON(types.NewStringBufferString(tc.in)).(*types.StringBuffer).String()
		if out != tc.want {
			t.Errorf("asciiJSON(%s) = %s, want %s", tc.in, out, tc.want)
		}
		var a, b any
		if json.Unmarshal([]byte(tc.in[2:]), &a) == nil && json.Unmarshal([]byte(out[2:]), &b) == nil {
			if ja, _ := json.Marshal(a); string(ja) != func() string { jb, _ := json.Marshal(b); return string(jb) }() {
				t.Errorf("%s and %s decode differently", tc.in, out)
			}
		}
	}
	// One broadcast, many recipients: the rewrite is made once and reused.
	in := types.NewStringBufferString(`42["a","é"]`)
	first, again := asciiJSON(in), asciiJSON(in)
	if first != again || first.(*types.StringBuffer).String() != `42["a","\u00e9"]` {
		t.Errorf("rewrite %v then %v", first, again)
	}
	if other := asciiJSON(types.NewStringBufferString(`42["b","ü"]`)); other.(*types.StringBuffer).String() != `42["b","\u00fc"]` {
		t.Errorf("another packet: %v", other)
	}
	bin := types.NewBytesBuffer([]byte{1, 2, 0xff})
	if asciiJSON(bin) != types.BufferInterface(bin) {
		t.Error("a binary attachment was rewritten")
	}
}
