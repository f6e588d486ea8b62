package native_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard/switchboard/internal/apps/native"
)

// FuzzFrame sends arbitrary frames to a live node after a connect, then checks that the
// server is still answering on that connection (or closed it with a protocol code) and that
// a new connection works: no input may crash or hang the server.
func FuzzFrame(f *testing.F) {
	seeds := []string{
		`{"id":1,"method":"subscribe","params":{"channel":"a"}}`,
		`{"id":1,"method":"publish","params":{"channel":"a","data":{"x":[1,2,{"y":null}]}}}`,
		`{"id":1,"method":"subscribe","params":{"channel":"small:x","since":{"offset":18446744073709551615,"epoch":""}}}`,
		`{"id":4294967295,"method":"history","params":{"channel":"small:x","limit":-5}}`,
		`{"id":1,"method":"presence","params":null}`,
		`{"id":1,"method":"publish","params":{"channel":"a","data":"\u0000\n"}}` + "\n" + `{"id":2}`,
		`{"id":"1","method":5}`,
		`[]`, `null`, ``, "\n\n\n", `{"method":"pong"}`, `{"id":1,"method":"connect"}`,
		`{"id":1,"method":"unsubscribe","params":{"channel":"` + strings.Repeat("a", 300) + `"}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	n := startNode(f, nil)
	u := "ws" + strings.TrimPrefix(n.URL, "http") + "/v1/ws"
	f.Fuzz(func(t *testing.T, frame []byte) {
		conn, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		conn.WriteMessage(websocket.TextMessage, []byte(`{"id":1000001,"method":"connect"}`))
		conn.WriteMessage(websocket.TextMessage, frame)
		conn.WriteMessage(websocket.TextMessage, []byte(`{"id":1000002,"method":"ping"}`))
		conn.SetReadDeadline(time.Now().Add(guard))
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				ce, ok := err.(*websocket.CloseError)
				if !ok || ce.Code < 3000 {
					t.Fatalf("connection ended without a protocol close: %v", err)
				}
				return
			}
			if strings.Contains(string(data), `"id":1000002`) {
				return
			}
		}
	})
}

func FuzzParseEventID(f *testing.F) {
	for _, s := range []string{"abc:1", ":1", "abc:", "a:b:c", "x:18446744073709551616", "e:-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pos, err := native.ParseEventID(s)
		if err != nil {
			return
		}
		again, err := native.ParseEventID(pos.Epoch + ":" + strconv.FormatUint(pos.Offset, 10))
		if err != nil || *again != *pos {
			t.Fatalf("%q parsed to %+v, which does not round-trip (%v)", s, pos, err)
		}
	})
}
