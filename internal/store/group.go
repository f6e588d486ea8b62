package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit for SQLite's writes. SQLite has one writer, and every commit waits for its
// fsync (synchronous=FULL): under concurrent writers each waited for every fsync ahead of it,
// so writes per second were fsyncs per second. Tx now queues its function, and one runner
// goroutine (started by a call that finds none, gone once no call has come for linger) runs
// batches: every function queued at that moment, each in a savepoint of one transaction, then
// a single commit. A function's error rolls back its savepoint only; each caller returns once
// the commit that holds its writes is durable, or with the error that lost them. With one
// writer at a time this is the old path, one transaction per call (without a savepoint).
// PostgreSQL commits concurrent transactions together by itself; it keeps one per call.
//
// What a function sees is what it saw before: the batch runs the functions one after
// another, so each sees the writes of those before it, as it would have after their
// commits. A function must not keep the *sql.Tx past its return, as before.
//
// A caller that gives up (its context ends) while its call waits for the writer returns at
// once, and its function never runs. Once its function runs, the caller waits for the
// batch's outcome: the function's statements run under a context the caller cannot end,
// because SQLite rolls back the whole transaction when it interrupts a write, and the other
// calls' writes would go with it.

// maxBatch bounds the functions of one transaction, so one commit's wait stays bounded.
const maxBatch = 256

// txCall is one queued Tx.
type txCall struct {
	ctx  context.Context
	fn   func(context.Context, *sql.Tx) error
	err  error
	pan  any // a panic of fn, raised again on the caller's goroutine
	done chan struct{}
	// state is callQueued until the batch takes the call (callRunning) or its caller gives
	// up waiting for its turn (callAbandoned); whichever comes first holds.
	state atomic.Int32
}

// txCall states.
const (
	callQueued int32 = iota
	callRunning
	callAbandoned
)

// group is the queue of one write handle.
type group struct {
	mu    sync.Mutex
	queue []*txCall
	// running is set while a runner goroutine exists, busy or waiting for the next call.
	running bool
	// wake tells a waiting runner that a call is queued (one pending wake is enough).
	wake chan struct{}
	// linger, if set, replaces the default (a test's).
	linger time.Duration
	// runners counts the runners started (the tests').
	runners atomic.Int64
}

// linger is how long a runner with nothing to do waits for the next call before it exits.
// A runner per batch had started on a fresh stack and grown it through SQLite's deep calls
// for every commit (copying it each time: several percent of the server's CPU under the
// counter's 50 commits a second); a runner that stays keeps its stack.
const linger = 100 * time.Millisecond

// txGrouped runs fn in the next batch (see above).
func (db *DB) txGrouped(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	c := &txCall{ctx: ctx, fn: fn, done: make(chan struct{})}
	g := &db.group
	g.mu.Lock()
	g.queue = append(g.queue, c)
	lead := !g.running
	if lead {
		g.running = true
		if g.wake == nil {
			g.wake = make(chan struct{}, 1)
		}
	}
	wake := g.wake
	g.mu.Unlock()
	if lead {
		// On a goroutine of its own: a caller that ran the batches while more kept coming
		// would not return to its own request.
		g.runners.Add(1)
		go db.runBatches(wake)
	} else {
		select {
		case wake <- struct{}{}:
		default: // a wake is pending already
		}
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		// Given up while queued: the call will not run, and the caller need not wait for the
		// batches ahead (a stalled disk). Once running, its outcome is awaited.
		if c.state.CompareAndSwap(callQueued, callAbandoned) {
			return fmt.Errorf("store: waiting for the writer: %w", ctx.Err())
		}
		<-c.done
	}
	if c.pan != nil {
		panic(c.pan)
	}
	return c.err
}

// runBatches runs batches until the queue has been empty for linger.
func (db *DB) runBatches(wake chan struct{}) {
	g := &db.group
	idle := time.NewTimer(linger)
	defer idle.Stop()
	for {
		g.mu.Lock()
		n := min(len(g.queue), maxBatch)
		if n == 0 {
			wait := cmp.Or(g.linger, linger)
			g.mu.Unlock()
			idle.Reset(wait)
			select {
			case <-wake:
				continue
			case <-idle.C:
			}
			g.mu.Lock()
			if len(g.queue) > 0 { // queued as the wait ended: its wake is pending, or taken
				g.mu.Unlock()
				continue
			}
			g.running = false
			g.mu.Unlock()
			return
		}
		batch := g.queue[:n:n]
		g.queue = g.queue[n:]
		if len(g.queue) == 0 {
			g.queue = nil // the next append starts a new array; this one goes with the batch
		}
		g.mu.Unlock()
		db.runBatch(batch)
		for _, c := range batch {
			close(c.done)
		}
	}
}

// runBatch runs batch in one transaction and sets each call's outcome.
func (db *DB) runBatch(batch []*txCall) {
	// The transaction is the batch's, not one caller's: a caller that gives up does not end
	// it for the others.
	ctx := context.Background()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		for _, c := range batch {
			c.err = fmt.Errorf("store: begin: %w", err)
		}
		return
	}
	if len(batch) == 1 {
		db.runAlone(tx, batch[0])
		return
	}
	var ok []*txCall
	for i, c := range batch {
		if !c.start() {
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT call"); err != nil {
			db.abort(tx, batch[i:], ok, fmt.Errorf("store: savepoint: %w", err))
			return
		}
		// The function's statements run under a context its caller cannot end: an interrupted
		// statement would roll back the batch's other writes (see the note at the rollback).
		if c.pan, c.err = call(context.WithoutCancel(c.ctx), c.fn, tx); c.err == nil && c.pan == nil {
			if _, err := tx.ExecContext(ctx, "RELEASE call"); err != nil {
				db.abort(tx, batch[i:], ok, fmt.Errorf("store: release: %w", err))
				return
			}
			ok = append(ok, c)
			continue
		}
		// SQLite ends the whole transaction on some errors (an interrupted write, a full
		// disk): then there is no savepoint to return to, and the calls before this one lost
		// their writes too.
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO call"); err != nil {
			db.abort(tx, batch[i+1:], ok, fmt.Errorf("store: the transaction ended under a failed write: %w", err))
			return
		}
		if _, err := tx.ExecContext(ctx, "RELEASE call"); err != nil {
			db.abort(tx, batch[i+1:], ok, fmt.Errorf("store: release: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		for _, c := range ok {
			c.err = fmt.Errorf("store: commit: %w", err)
		}
	}
}

// start takes c for its batch; false when its function is not to run: its caller returned
// already, or its context ended before its turn (then that is its error).
func (c *txCall) start() bool {
	if !c.state.CompareAndSwap(callQueued, callRunning) {
		return false
	}
	c.err = c.ctx.Err()
	return c.err == nil
}

// runAlone runs a batch of one call: the transaction is its savepoint, and the two
// statements that made one (parsed again on every call) are saved.
func (db *DB) runAlone(tx *sql.Tx, c *txCall) {
	if !c.start() {
		_ = tx.Rollback()
		return
	}
	if c.pan, c.err = call(context.WithoutCancel(c.ctx), c.fn, tx); c.err != nil || c.pan != nil {
		_ = tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		c.err = fmt.Errorf("store: commit: %w", err)
	}
}

// abort rolls tx back and gives err to the calls whose writes it held (done) and to those
// not yet run (rest).
func (db *DB) abort(tx *sql.Tx, rest, done []*txCall, err error) {
	_ = tx.Rollback()
	for _, c := range append(done, rest...) {
		if c.pan == nil {
			c.err = err
		}
	}
}

// call runs fn on tx, catching a panic.
func call(ctx context.Context, fn func(context.Context, *sql.Tx) error, tx *sql.Tx) (pan any, err error) {
	defer func() {
		if p := recover(); p != nil {
			pan = p
		}
	}()
	return nil, fn(ctx, tx)
}
