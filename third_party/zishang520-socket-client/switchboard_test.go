package socket

// Tests of the Switchboard patches (PATCHES.md).

import (
	"net"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zishang520/socket.io/clients/engine/v3/transports"
	server "github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

const guard = 10 * time.Second // bounds every wait; not a speed assertion

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func wsOptions() OptionsInterface {
	opts := DefaultOptions()
	opts.SetTransports(types.NewSet(transports.WebSocket))
	opts.SetForceNew(true)
	opts.SetReconnection(false)
	opts.SetAutoConnect(false)
	opts.SetTimeout(time.Hour) // a missed event shows as the guard running out, not as this
	return opts
}

// TestManagerHearsARefusedDial: a dial refused at once is reported to Open's callback. The
// engine used to fail inside its constructor, before the manager listened for "error", and
// Open waited for its timeout.
func TestManagerHearsARefusedDial(t *testing.T) {
	addr := freeAddr(t) // nothing listens there any more
	sock, err := Connect("http://"+addr, wsOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	done := make(chan error, 1)
	sock.Io().Open(func(err error) { done <- err })
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("opened a session with nothing listening")
		}
	case <-time.After(guard):
		t.Fatal("the refused dial was never reported")
	}
}

// TestOneConnectPerSession: the socket's open handler running twice on one session (Connect
// and the manager's "open" both seeing the session open) sends one CONNECT. With two, the
// server made a second socket, or closed the connection. An acknowledged event, sent after,
// proves the server read whatever the second call sent.
func TestOneConnectPerSession(t *testing.T) {
	io := server.NewServer(nil, nil)
	var serverSockets atomic.Int64
	_ = io.On("connection", func(args ...any) {
		serverSockets.Add(1)
		s := args[0].(*server.Socket)
		_ = s.On("ping?", func(args ...any) {
			if ack, ok := args[len(args)-1].(server.Ack); ok {
				ack([]any{"pong"}, nil)
			}
		})
	})
	srv := httptest.NewServer(io.ServeHandler(nil))
	defer srv.Close()

	sock, err := Connect(srv.URL, wsOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	var connects atomic.Int64
	connected := make(chan struct{}, 2)
	_ = sock.On("connect", func(...any) { connects.Add(1); connected <- struct{}{} })
	opened := make(chan error, 1)
	sock.Io().Open(func(err error) { opened <- err })
	select {
	case err := <-opened:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(guard):
		t.Fatal("no session")
	}
	sock.Connect() // the manager is open: Connect sends CONNECT itself
	sock.onopen()  // as the manager's "open" would, had it come in between
	select {
	case <-connected:
	case <-time.After(guard):
		t.Fatal("not connected")
	}
	acked := make(chan error, 1)
	sock.EmitWithAck("ping?")(func(_ []any, err error) { acked <- err })
	select {
	case err := <-acked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(guard):
		t.Fatal("no answer: the connection closed after a second CONNECT?")
	}
	if n, c := serverSockets.Load(), connects.Load(); n != 1 || c != 1 {
		t.Fatalf("%d server-side sockets and %d connects, want 1 and 1", n, c)
	}
	if !sock.Connected() {
		t.Fatal("disconnected")
	}
}
