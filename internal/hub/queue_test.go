package hub

import (
	"errors"
	"testing"
)

func TestQueue(t *testing.T) {
	wakes := 0
	q := NewQueue(10, func() { wakes++ })
	if err := q.Push([]byte("abcd")); err != nil {
		t.Fatal(err)
	}
	if err := q.Push([]byte("efgh")); err != nil {
		t.Fatal(err)
	}
	if wakes != 1 {
		t.Fatalf("two pushes to an idle queue woke %d consumers, want 1", wakes)
	}
	if err := q.Push([]byte("ijk")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("push over the byte bound: %v", err)
	}
	items, st := q.Take(nil)
	if st != Items || len(items) != 2 || string(items[1]) != "efgh" {
		t.Fatalf("take: %v %q", st, items)
	}
	if q.Len() != 0 {
		t.Fatal("take must empty the queue")
	}
	if _, st := q.Take(nil); st != Idle {
		t.Fatalf("empty take: %v, want Idle", st)
	}
	q.Push([]byte("x"))
	if wakes != 2 {
		t.Fatal("a push after the consumer went idle must wake one again")
	}
	// Close keeps what is queued for the consumer, refuses more, and ends with Drained.
	q.Close(false)
	if err := q.Push([]byte("y")); !errors.Is(err, ErrQueueClosed) {
		t.Fatalf("push after close: %v", err)
	}
	if items, st := q.Take(nil); st != Items || string(items[0]) != "x" {
		t.Fatalf("take after close: %v %q", st, items)
	}
	if _, st := q.Take(nil); st != Drained {
		t.Fatalf("take after flushing a closed queue: %v, want Drained", st)
	}
	if q.Close(true) {
		t.Fatal("second close reported true")
	}
}

func TestQueueCloseWakesIdleConsumer(t *testing.T) {
	wakes := 0
	q := NewQueue(10, func() { wakes++ })
	q.Push([]byte("a"))
	q.Close(true) // discard: a slow consumer is not owed its backlog
	if wakes != 1 {
		t.Fatalf("wakes %d", wakes)
	}
	if _, st := q.Take(nil); st != Drained {
		t.Fatalf("discarded queue: %v, want Drained", st)
	}
	idle := NewQueue(10, func() { wakes++ })
	idle.Close(false)
	if wakes != 2 {
		t.Fatal("closing an idle queue must wake a consumer to finish the connection")
	}
}

func TestQueueOfferCutsOff(t *testing.T) {
	wakes, cuts := 0, 0
	q := NewQueue(10, func() { wakes++ })
	cut := func() {
		cuts++
		if q.closed { // Offer holds the lock: read the field directly
			t.Error("cut ran after the queue was closed, when the consumer may already finish")
		}
	}
	if !q.Offer([]byte("abcdef"), cut) {
		t.Fatal("offer within the bound refused")
	}
	if q.Offer([]byte("ghijkl"), cut) {
		t.Fatal("offer over the bound accepted")
	}
	if cuts != 1 {
		t.Fatalf("cut ran %d times", cuts)
	}
	if q.Offer([]byte("x"), cut) || cuts != 1 {
		t.Fatal("a cut-off queue took more, or cut again")
	}
	// The backlog is dropped and the consumer, woken once, finds the queue drained.
	if _, st := q.Take(nil); st != Drained || wakes != 1 {
		t.Fatalf("after the cut: %v, wakes %d", st, wakes)
	}
}
