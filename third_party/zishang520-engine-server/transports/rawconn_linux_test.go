package transports

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection, the first with raw syscalls.
func tcpPair(t *testing.T) (raw net.Conn, peer *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	d, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		t.Fatal("accept failed")
	}
	raw = RawSyscallConn(a)
	if _, ok := raw.(*rawConn); !ok {
		t.Fatalf("a TCP connection was not made raw: %T", raw)
	}
	t.Cleanup(func() { raw.Close(); d.Close() })
	return raw, d.(*net.TCPConn)
}

// TestRawConn: a raw connection reads and writes as net.Conn does, through full socket buffers
// (the poller's wait), at the end of the stream, past deadlines and after a close.
func TestRawConn(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: more than the socket buffers hold
	tests := []struct {
		name string
		run  func(t *testing.T, raw net.Conn, peer *net.TCPConn)
	}{
		{"write through full buffers", func(t *testing.T, raw net.Conn, peer *net.TCPConn) {
			got := make(chan []byte)
			go func() { b, _ := io.ReadAll(peer); got <- b }()
			if n, err := raw.Write(payload); err != nil || n != len(payload) {
				t.Fatalf("wrote %d of %d: %v", n, len(payload), err)
			}
			raw.Close()
			if b := <-got; !bytes.Equal(b, payload) {
				t.Fatalf("peer got %d bytes, not the %d written", len(b), len(payload))
			}
		}},
		{"read until the end", func(t *testing.T, raw net.Conn, peer *net.TCPConn) {
			go func() { peer.Write(payload); peer.Close() }()
			b, err := io.ReadAll(raw)
			if err != nil || !bytes.Equal(b, payload) {
				t.Fatalf("read %d bytes, not the %d sent: %v", len(b), len(payload), err)
			}
			if n, err := raw.Read(make([]byte, 8)); n != 0 || err != io.EOF {
				t.Fatalf("read after the end: %d, %v; want 0, EOF", n, err)
			}
		}},
		{"empty read", func(t *testing.T, raw net.Conn, peer *net.TCPConn) {
			if n, err := raw.Read(nil); n != 0 || err != nil {
				t.Fatalf("empty read: %d, %v", n, err)
			}
		}},
		{"read deadline", func(t *testing.T, raw net.Conn, peer *net.TCPConn) {
			raw.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			_, err := raw.Read(make([]byte, 8))
			var ne net.Error
			if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("read past its deadline: %v; want a timeout", err)
			}
		}},
		{"write deadline", func(t *testing.T, raw net.Conn, peer *net.TCPConn) {
			raw.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
			n, err := raw.Write(bytes.Repeat(payload, 16)) // the peer reads nothing
			if !errors.Is(err, os.ErrDeadlineExceeded) || n >= 16*len(payload) {
				t.Fatalf("write past its deadline: %d bytes, %v; want part and a timeout", n, err)
			}
		}},
		{"close while reading", func(t *testing.T, raw net.Conn, peer *net.TCPConn) {
			done := make(chan error)
			go func() { _, err := raw.Read(make([]byte, 8)); done <- err }()
			time.Sleep(10 * time.Millisecond) // most likely parked on the poller by now; either way the read fails
			raw.Close()
			if err := <-done; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read on a closed connection: %v; want net.ErrClosed", err)
			}
		}},
		{"no allocation per call", func(t *testing.T, raw net.Conn, peer *net.TCPConn) {
			b := make([]byte, 1)
			allocs := testing.AllocsPerRun(100, func() {
				if _, err := raw.Write(b); err != nil {
					t.Fatal(err)
				}
				if _, err := peer.Write(b); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(raw, b); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per write and read, want none", allocs)
			}
		}},
		{"peer reset", func(t *testing.T, raw net.Conn, peer *net.TCPConn) {
			peer.SetLinger(0)
			peer.Close() // an RST
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				_, err = raw.Write([]byte("after the reset"))
			}
			var op *net.OpError
			if !errors.As(err, &op) || op.Op != "write" {
				t.Fatalf("write to a reset connection: %v; want a write *net.OpError", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, peer := tcpPair(t)
			tt.run(t, raw, peer)
		})
	}
}

// TestRawConnKeepsOthers: a connection without a descriptor (a pipe; TLS likewise) keeps its
// own Read and Write.
func TestRawConnKeepsOthers(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c := RawSyscallConn(a); c != a {
		t.Fatalf("a pipe was wrapped: %T", c)
	}
}
