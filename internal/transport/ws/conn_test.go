package ws

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard/switchboard/internal/clocktest"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/transport"
)

type nopHandler struct{}

func (nopHandler) OnMessage(*Conn, []byte)    {}
func (nopHandler) OnClose(*Conn, int, string) {}

// TestWriteSpacing: with a write delay, a message to a connection that has not written for
// longer than the delay goes out at once, and messages queued within the delay of the last
// write wait out the rest of it and share one write (here one batched frame); the quiet spell
// counts from the last write, not from the end of the writer's wait after it. The clock and
// the waits are held by the test, not timed.
func TestWriteSpacing(t *testing.T) {
	held := clocktest.NewHeld()
	srv := NewServer(Options{
		ReadLimit: 1 << 10, QueueBytes: 1 << 16, WriteTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteDelay: time.Minute, clock: held, Batch: true, Registry: transport.NewRegistry(10, 10, time.Second),
	})
	conns := make(chan *Conn, 1)
	stops := make(chan struct{}, 8) // a writer has seen its queue empty and returned
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := srv.Accept(w, r, nopHandler{}, func(c *Conn) {
			c.q = hub.NewQueue(c.opts.QueueBytes, func() {
				go func() {
					c.writeLoop()
					select {
					case stops <- struct{}{}:
					default:
					}
				}()
			})
		})
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
	const delay = time.Minute
	c.Send([]byte("a")) // the first write: nothing was written within the delay
	read("a")
	if d := held.Asked(t, "the writer", delay); d != delay { // it waits the delay after it
		t.Fatalf("the writer waits %v after a write, want %v", d, delay)
	}
	for _, m := range []string{"b", "c", "d"} {
		c.Send([]byte(m))
	}
	held.Advance(delay)
	held.Release(t)
	read("b\nc\nd")
	if d := held.Asked(t, "the writer", delay); d != delay {
		t.Fatalf("the writer waits %v after a write, want %v", d, delay)
	}
	held.Advance(delay)
	held.Release(t) // nothing was queued: the writer stops
	select {
	case <-stops:
	case <-time.After(10 * time.Second): // a guard
		t.Fatal("the writer did not stop")
	}
	held.Advance(delay / 2)
	c.Send([]byte("e")) // 1.5 delays after the last write
	read("e")
	// The wait after a write ends on a shared tick, a quarter of the delay (transports.OnTick): "e" went
	// out on one, so the writer waits the delay; "f", a second after a tick, waits the delay
	// and the rest of that quarter.
	if d := held.Asked(t, "the writer", delay); d != delay {
		t.Fatalf("the writer waits %v after a write on a tick, want %v", d, delay)
	}
	held.Advance(delay)
	held.Release(t)
	select {
	case <-stops:
	case <-time.After(10 * time.Second): // a guard
		t.Fatal("the writer did not stop")
	}
	held.Advance(2*delay + time.Second)
	c.Send([]byte("f"))
	read("f")
	if d, want := held.Asked(t, "the writer", delay+delay/4), delay+delay/4-time.Second; d != want {
		t.Fatalf("the writer waits %v after a write a second past a tick, want %v (to the tick after the delay)", d, want)
	}
	held.ReleaseAll()
}
