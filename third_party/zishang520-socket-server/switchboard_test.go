package socket

// Tests of Switchboard's patches (see PATCHES.md).

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/zishang520/socket.io/parsers/socket/v3/parser"
	"github.com/zishang520/socket.io/servers/engine/v3"
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

// TestEventsBeforeCloseAreDispatched: every event a client sent before it closed reaches the
// socket's listeners, and "disconnect" comes after them. (The close used to overtake events
// still queued: a click sent just before a page closed was lost.)
func TestEventsBeforeCloseAreDispatched(t *testing.T) {
	eio := engine.NewServer(nil)
	server := NewServer(nil, nil)
	const sent = 200
	var got atomic.Int32
	var afterDisconnect atomic.Int32
	disconnected := make(chan struct{})
	_ = server.On("connection", func(args ...any) {
		socket := args[0].(*Socket)
		var gone atomic.Bool
		_ = socket.On("click", func(...any) {
			if gone.Load() {
				afterDisconnect.Add(1)
			}
			got.Add(1)
		})
		_ = socket.On("disconnect", func(...any) {
			gone.Store(true)
			close(disconnected)
		})
	})
	server.Bind(eio)
	httpServer := httptest.NewServer(eio)
	t.Cleanup(func() { server.Close(nil); httpServer.Close() })
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(httpServer.URL, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, open, err := client.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0{") {
		t.Fatalf("open: %q %v", open, err)
	}
	if err := client.WriteMessage(websocket.TextMessage, []byte(`40`)); err != nil {
		t.Fatal(err)
	}
	if _, connected, err := client.ReadMessage(); err != nil || !strings.HasPrefix(string(connected), "40") {
		t.Fatalf("connect: %q %v", connected, err)
	}
	for i := range sent {
		if err := client.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `42["click",%d]`, i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = client.Close() // at once, without a close handshake
	select {
	case <-disconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("no disconnect")
	}
	if n := got.Load(); n != sent || afterDisconnect.Load() != 0 {
		t.Fatalf("%d of %d events dispatched, %d after disconnect", n, sent, afterDisconnect.Load())
	}
}

// joinBroadcaster broadcasts to a socket's own room the moment the socket joins it: a
// broadcast from another goroutine landing at the worst time for the socket's CONNECT.
type joinBroadcaster struct{ Adapter }

type joinBroadcasterBuilder struct{}

func (joinBroadcasterBuilder) New(nsp Namespace) Adapter {
	return &joinBroadcaster{NewAdapter(nsp)}
}

func (j *joinBroadcaster) AddAll(id SocketId, rooms *types.Set[Room]) {
	j.Adapter.AddAll(id, rooms)
	if rooms.Has(Room(id)) {
		j.Adapter.Broadcast(&parser.Packet{Type: parser.EVENT, Data: []any{"early"}},
			&BroadcastOptions{Rooms: types.NewSet(Room(id)), Except: types.NewSet[Room](), Flags: &BroadcastFlags{}})
	}
}

// TestConnectBeforeBroadcasts: a socket's CONNECT packet is written before the socket joins
// any room, so no broadcast reaches a client ahead of it (Node's socket.io, on one thread,
// never interleaves the two; here a broadcast from another goroutine could land between
// the join and the CONNECT, and a client read an event before it was connected).
func TestConnectBeforeBroadcasts(t *testing.T) {
	eio := engine.NewServer(nil)
	opts := DefaultServerOptions()
	opts.SetAdapter(joinBroadcasterBuilder{})
	server := NewServer(nil, opts)
	server.Bind(eio)
	httpServer := httptest.NewServer(eio)
	t.Cleanup(func() { server.Close(nil); httpServer.Close() })
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(httpServer.URL, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, open, err := client.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0{") {
		t.Fatalf("open: %q %v", open, err)
	}
	if err := client.WriteMessage(websocket.TextMessage, []byte(`40`)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		_, p, err := client.ReadMessage()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, string(p))
	}
	if !strings.HasPrefix(got[0], "40{") || got[1] != `42["early"]` {
		t.Fatalf("packets %q: want the CONNECT, then the broadcast", got)
	}
}

// dialSockets connects n raw WebSocket clients and returns their server-side sockets, in
// connection order, once each has joined its own room.
func dialSockets(t *testing.T, server *Server, url string, n int) []*Socket {
	t.Helper()
	connected := make(chan *Socket, n)
	_ = server.On("connection", func(args ...any) {
		select {
		case connected <- args[0].(*Socket):
		default: // a listener of an earlier call
		}
	})
	sockets := make([]*Socket, 0, n)
	for range n {
		client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Close() })
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, open, err := client.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0{") {
			t.Fatalf("open: %q %v", open, err)
		}
		if err := client.WriteMessage(websocket.TextMessage, []byte(`40`)); err != nil {
			t.Fatal(err)
		}
		if _, ack, err := client.ReadMessage(); err != nil || !strings.HasPrefix(string(ack), "40") {
			t.Fatalf("connect: %q %v", ack, err)
		}
		select {
		case s := <-connected:
			sockets = append(sockets, s)
		case <-time.After(5 * time.Second):
			t.Fatal("no connection event")
		}
	}
	return sockets
}

// TestRecipientsFollowMembership: the recipients of a broadcast (kept as a snapshot between
// membership changes) follow every join, leave and disconnect, each taking effect at the next
// broadcast after it. The snapshot of a room and of the whole namespace is built first in each
// step, so an invalidation left out shows as a stale recipient list.
func TestRecipientsFollowMembership(t *testing.T) {
	eio := engine.NewServer(nil)
	server := NewServer(nil, nil)
	server.Bind(eio)
	httpServer := httptest.NewServer(eio)
	t.Cleanup(func() { server.Close(nil); httpServer.Close() })
	s := dialSockets(t, server, httpServer.URL, 3)
	adapter := server.Of("/", nil).Adapter()
	recipients := func(rooms ...Room) string {
		ids := adapter.Sockets(types.NewSet(rooms...)).Keys()
		names := []string{}
		for i, socket := range s {
			if slices.Contains(ids, socket.Id()) {
				names = append(names, fmt.Sprint(i))
			}
		}
		if len(ids) != len(names) {
			t.Errorf("unknown recipients in %v", ids) // not Fatalf: listeners call this off the test's goroutine
		}
		return strings.Join(names, ",")
	}
	check := func(step, want string, rooms ...Room) {
		t.Helper()
		if got := recipients(rooms...); got != want {
			t.Fatalf("%s: broadcast to %v reaches sockets [%s], want [%s]", step, rooms, got, want)
		}
	}
	// A broadcast to everyone at every leave: during a socket's DelAll it falls between its
	// last room and its removal from the namespace's list, and must not be kept.
	_ = adapter.On("leave-room", func(...any) { _ = recipients() })
	check("connected", "0,1,2")
	s[1].Join("r")
	check("one joined", "1", "r")
	s[0].Join("r")
	check("another joined", "0,1", "r")
	s[1].Leave("r")
	check("one left", "0", "r")
	check("before", "0,1,2")
	adapter.DelAll(s[2].Id()) // out of every room while still connected
	check("left all rooms", "0,1")
	s[2].Join() // no room, but in the namespace's list again
	check("joined no room", "0,1,2")
	s[2].Join("r")
	check("joined again", "0,2", "r")
	check("joined again", "0,1,2")
	s[0].Disconnect(true)
	check("disconnected", "1,2")
	check("disconnected", "2", "r")
	more := dialSockets(t, server, httpServer.URL, 1)
	s = append(s, more...)
	check("a new connection", "1,2,3")

	// A join landing between a snapshot's build and its store: that snapshot is not kept.
	s[2].Join("late")
	recipientsBuilt = func() {
		recipientsBuilt = nil
		s[1].Join("late")
	}
	t.Cleanup(func() { recipientsBuilt = nil })
	_ = recipients("late")
	check("joined during a build", "1,2", "late")

	// A broadcast from a join-room or leave-room listener sees the change, as upstream's did.
	var atJoin, atLeave string
	_ = adapter.On("join-room", func(args ...any) {
		if args[0].(Room) == "events" {
			atJoin = recipients("events")
		}
	})
	_ = adapter.On("leave-room", func(args ...any) {
		if args[0].(Room) == "events" {
			atLeave = recipients("events")
		}
	})
	s[1].Join("events")
	check("before the events", "1", "events")
	s[2].Join("events")
	s[1].Leave("events")
	if atJoin != "1,2" || atLeave != "2" {
		t.Fatalf("a broadcast from join-room reached [%s], from leave-room [%s]; want [1,2] and [2]", atJoin, atLeave)
	}

	// Joins racing broadcasts: once they are done, the next broadcast reaches every joiner.
	var wg sync.WaitGroup
	for _, socket := range s[1:] {
		wg.Go(func() { socket.Join("race") })
		wg.Go(func() { _ = recipients("race") })
	}
	wg.Wait()
	check("raced", "1,2,3", "race")
}

// TestTaskQueue: a packet's task (Run) runs on the caller's goroutine when nothing is queued
// before it, and queues behind the worker otherwise; tasks run one at a time in the order they
// came, a panic stops only its own task, and a closed queue takes no more.
func TestTaskQueue(t *testing.T) {
	t.Run("idle: Run runs here", func(t *testing.T) {
		var q taskQueue
		ran := false
		q.Run(func() { ran = true }) // no lock: the same goroutine, or the race detector says so
		if !ran {
			t.Fatal("Run returned before its task ran")
		}
	})
	t.Run("busy: Run queues behind the worker, in order", func(t *testing.T) {
		var q taskQueue
		var mu sync.Mutex
		var order []string
		note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
		hold, held := make(chan struct{}), make(chan struct{})
		done := make(chan struct{})
		q.Enqueue(func() { close(held); <-hold; note("worker") })
		<-held
		q.Run(func() { note("run 1") }) // the worker is busy: queued, Run returns at once
		q.Enqueue(func() { note("enqueued") })
		q.Run(func() { note("run 2"); close(done) })
		close(hold)
		<-done
		mu.Lock()
		defer mu.Unlock()
		if got := strings.Join(order, ","); got != "worker,run 1,enqueued,run 2" {
			t.Fatalf("ran %s", got)
		}
	})
	t.Run("queued during Run: run after it, here", func(t *testing.T) {
		var q taskQueue
		var order []string
		q.Run(func() {
			q.Enqueue(func() { order = append(order, "queued meanwhile") })
			order = append(order, "run")
		})
		if got := strings.Join(order, ","); got != "run,queued meanwhile" {
			t.Fatalf("ran %s before Run returned", got)
		}
	})
	t.Run("panic", func(t *testing.T) {
		var q taskQueue
		ran := false
		q.Run(func() {
			q.Enqueue(func() { ran = true })
			panic("boom")
		})
		if !ran {
			t.Fatal("the task after a panic did not run")
		}
	})
	t.Run("closed", func(t *testing.T) {
		var q taskQueue
		q.TryClose()
		ran := false
		q.Run(func() { ran = true })
		q.Enqueue(func() { ran = true })
		if ran {
			t.Fatal("a closed queue ran a task")
		}
	})
}
