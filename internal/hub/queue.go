package hub

import (
	"errors"
	"sync"
)

// Errors from Push.
var (
	ErrQueueFull   = errors.New("queue full")
	ErrQueueClosed = errors.New("queue closed")
)

// Queue is a connection's outbound queue, bounded in bytes, with at most one consumer at a
// time. Producers (fan-out) never block: Push fails instead, and the connection is then cut
// off as a slow consumer. The queue holds references to shared encoded bytes, not copies.
//
// The consumer protocol: wake is called (under the queue's lock, so it must not block) when
// the queue goes from idle to holding data. The consumer then calls Take until it returns no
// items; that call marks the queue idle again, so the next Push wakes a consumer anew. This
// lets a WebSocket connection run its writer goroutine only while it has something to write.
type Queue struct {
	mu     sync.Mutex
	items  [][]byte
	size   int
	max    int
	active bool // a consumer has been woken and has not yet seen the queue empty
	closed bool
	wake   func()
}

// NewQueue returns a queue that holds at most max bytes; wake is described on Queue.
func NewQueue(max int, wake func()) *Queue {
	return &Queue{max: max, wake: wake}
}

// Push appends b. It fails with ErrQueueClosed after Close, and with ErrQueueFull when b would
// exceed the byte bound.
func (q *Queue) Push(b []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrQueueClosed
	}
	if q.size+len(b) > q.max {
		return ErrQueueFull
	}
	q.items = append(q.items, b)
	q.size += len(b)
	if !q.active {
		q.active = true
		q.wake()
	}
	return nil
}

// Offer pushes b for a connection that must not fall behind. When b does not fit, the queue
// is cut off: cut runs (once, under the queue's lock, before the consumer can see the queue
// drained, so it may record why the connection ends; it must not block), the backlog is
// dropped (a slow consumer is not owed it) and the consumer is woken to finish. Offer reports
// whether b was queued.
func (q *Queue) Offer(b []byte, cut func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	if q.size+len(b) <= q.max {
		q.items = append(q.items, b)
		q.size += len(b)
		if !q.active {
			q.active = true
			q.wake()
		}
		return true
	}
	cut()
	q.closeLocked(true)
	return false
}

// TakeState says what Take found.
type TakeState uint8

// Take results.
const (
	// Items: dst holds what was queued; call Take again when it is written.
	Items TakeState = iota
	// Idle: nothing is queued; the queue is marked idle and the next Push wakes a consumer.
	Idle
	// Drained: the queue is closed and everything in it was taken; the consumer should
	// finish the connection.
	Drained
)

// Take moves every queued item into dst (which it returns) and says what it found.
func (q *Queue) Take(dst [][]byte) ([][]byte, TakeState) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		if q.closed {
			return dst, Drained
		}
		q.active = false
		return dst, Idle
	}
	dst = append(dst, q.items...)
	clear(q.items)
	q.items = q.items[:0]
	q.size = 0
	return dst, Items
}

// Close makes every later Push fail and wakes the consumer, which flushes what is queued and
// then sees Drained. With discard, what is queued is dropped instead (a slow consumer is not
// owed its backlog). It returns false if the queue was already closed.
func (q *Queue) Close(discard bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closeLocked(discard)
}

func (q *Queue) closeLocked(discard bool) bool {
	if discard {
		clear(q.items)
		q.items = q.items[:0]
		q.size = 0
	}
	if q.closed {
		return false
	}
	q.closed = true
	if !q.active {
		q.active = true
		q.wake()
	}
	return true
}

// Len reports the queued bytes.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.size
}
