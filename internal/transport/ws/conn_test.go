package ws

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard/switchboard/internal/clocktest"
	"github.com/switchboard/switchboard/internal/transport"
)

type nopHandler struct{}

func (nopHandler) OnMessage(*Conn, []byte)    {}
func (nopHandler) OnClose(*Conn, int, string) {}

// TestWriteSpacing: with a write delay, a message to a connection that has not written for
// longer than the delay goes out at once, and messages queued within the delay of the last
// write wait out the rest of it and share one write (here one batched frame). The wait is held
// by the test, not timed.
func TestWriteSpacing(t *testing.T) {
	held := clocktest.NewHeld()
	srv := NewServer(Options{
		ReadLimit: 1 << 10, QueueBytes: 1 << 16, WriteTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteDelay: time.Hour, sleep: held.Sleep, Batch: true, Registry: transport.NewRegistry(10, 10, time.Second),
	})
	conns := make(chan *Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := srv.Accept(w, r, nopHandler{}, nil)
		if err != nil {
			t.Error(err)
		}
		conns <- c
	}))
	t.Cleanup(hs.Close)
	client, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = client.Close() })
	c := <-conns
	if c == nil {
		t.FailNow()
	}
	t.Cleanup(func() { c.Close(CloseGoingAway, "") })
	read := func(want string) {
		t.Helper()
		_ = client.SetReadDeadline(time.Now().Add(10 * time.Second)) // a guard: a held write fails, not hangs
		if _, got, err := client.ReadMessage(); err != nil || string(got) != want {
			t.Fatalf("read %q (%v), want %q", got, err, want)
		}
	}
	c.Send([]byte("a")) // the first write: nothing was written within the delay
	read("a")
	for _, m := range []string{"b", "c", "d"} {
		c.Send([]byte(m))
	}
	held.Asked(t, "the writer", time.Hour)
	held.ReleaseAll()
	read("b\nc\nd")
}
