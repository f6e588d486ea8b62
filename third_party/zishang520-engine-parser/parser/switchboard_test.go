package parser

// Tests of Switchboard's patches (see PATCHES.md).

import (
	"strconv"
	"testing"
	"unicode/utf16"

	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// Text payloads as the two Engine.IO 3 clients post them: 2.x sends the text with UTF-16
// lengths; 1.x without binary (in Node, or forceBase64) sends its UTF-8 bytes as chars,
// counted, then encoded as UTF-8 again.
func TestV3DecodeTextPayloads(t *testing.T) {
	const text = `2["click",{"user":"Zoë🎉","c":"ça"}]`
	latin1 := func(s string) string {
		r := make([]rune, 0, len(s))
		for _, b := range []byte(s) {
			r = append(r, rune(b))
		}
		return string(r)
	}
	for _, tc := range []struct{ name, payload, want string }{
		{"2.x", strconv.Itoa(len(utf16.Encode([]rune("4"+text)))) + ":4" + text, text},
		{"1.x, double-encoded", strconv.Itoa(len("4"+text)) + ":" + latin1("4"+text), text},
		{"ASCII", `7:42["a"]`, `2["a"]`},
		{"Latin-1 text that is not UTF-8 as bytes stays", "3:4çé", "çé"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			packets, err := (&parserv3{}).DecodePayload(types.NewStringBufferString(tc.payload))
			if err != nil || len(packets) != 1 {
				t.Fatalf("decode: %v, %d packets", err, len(packets))
			}
			if got := packets[0].Data.(*types.StringBuffer).String(); got != tc.want {
				t.Fatalf("decoded %q, want %q", got, tc.want)
			}
		})
	}
}

// A string packet as socket.io-client 1.x posts it: engine.io-parser 1.x frames every packet
// in binary, UTF-8 bytes with their length in bytes.
func TestV3DecodeBinaryStringFromClient(t *testing.T) {
	body := []byte(`42["click",{"user":"Zoë🎉"}]`) // 31 bytes, 29 UTF-16 units
	frame := append([]byte{0, 3, 1, 255}, body...)
	packets, err := (&parserv3{}).DecodePayload(types.NewBytesBuffer(frame))
	if err != nil || len(packets) != 1 {
		t.Fatalf("decode: %v, %d packets", err, len(packets))
	}
	if got := packets[0].Data.(*types.StringBuffer).String(); got != `2["click",{"user":"Zoë🎉"}]` {
		t.Fatalf("decoded %q", got)
	}
}

// A payload that does not parse ends with an error packet, on which the server's socket
// closes ("parse error"), as engine.io's does.
func TestDecodeErrorEndsWithErrorPacket(t *testing.T) {
	for name, tc := range map[string]struct {
		p    Parser
		data types.BufferInterface
	}{
		"v3 bad length":       {Parserv3(), types.NewStringBufferString("3:4ab5:x")},
		"v3 not a length":     {Parserv3(), types.NewStringBufferString("zz")},
		"v4 unknown type":     {Parserv4(), types.NewStringBufferString("4a\x1e9x")},
		"v3 binary too short": {Parserv3(), types.NewBytesBuffer([]byte{0, 9, 255, '4'})},
	} {
		t.Run(name, func(t *testing.T) {
			packets, err := tc.p.DecodePayload(tc.data)
			if err == nil || len(packets) == 0 || packets[len(packets)-1].Type != packet.ERROR {
				t.Fatalf("%v, %d packets, want an error ending in an error packet", err, len(packets))
			}
		})
	}
}
