package transport

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
)

func TestRegistryLimits(t *testing.T) {
	r := NewRegistry(3, 2, 1<<62)
	a, b, c, d := &fakeConn{}, &fakeConn{}, &fakeConn{}, &fakeConn{}
	if r.Add(a, "ip1") != nil || r.Add(b, "ip1") != nil {
		t.Fatal("two connections from one IP refused")
	}
	if err := r.Add(c, "ip1"); err != ErrTooManyFromIP {
		t.Fatalf("third from one IP: %v", err)
	}
	if r.Add(c, "ip2") != nil {
		t.Fatal("a connection from another IP refused")
	}
	if err := r.Add(d, "ip3"); err != ErrTooManyConns {
		t.Fatalf("fourth in all: %v", err)
	}
	r.Remove(a)
	r.Remove(a) // twice is harmless
	if r.Add(d, "ip1") != nil || r.Len() != 3 {
		t.Fatalf("after a removal: len %d", r.Len())
	}
}

type fakeConn struct {
	beats int
	shut  atomic.Int32
}

func (f *fakeConn) Heartbeat() { f.beats++ }
func (f *fakeConn) Shutdown()  { f.shut.Add(1) }

func TestRegistryReservations(t *testing.T) {
	r := NewRegistry(0, 2, 1<<62)
	s1, err := r.Reserve("ip")
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := r.Reserve("ip")
	if _, err := r.Reserve("ip"); err != ErrTooManyFromIP {
		t.Fatalf("a third slot while two handshakes are in flight: %v", err)
	}
	r.Release(s2) // a failed handshake gives its slot back
	c := &fakeConn{}
	if err := r.Attach(s1, c); err != nil || r.Len() != 1 {
		t.Fatalf("attach: %v, len %d", err, r.Len())
	}
	s3, err := r.Reserve("ip")
	if err != nil {
		t.Fatal("the released slot was not given back")
	}
	// A drain that begins during a handshake refuses it at Attach and does not wait for it.
	done := make(chan error, 1)
	go func() { done <- r.Drain(context.Background()) }()
	for c.shut.Load() == 0 {
		runtime.Gosched()
	}
	if err := r.Attach(s3, &fakeConn{}); err != ErrDraining {
		t.Fatalf("attach during drain: %v", err)
	}
	r.Remove(c)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
