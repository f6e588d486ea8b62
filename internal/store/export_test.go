package store

import "time"

// KeptReads is the number of read statements db keeps (see Query).
func (db *DB) KeptReads() int { return int(db.nreads.Load()) }

// MaxReadStmts is maxReadStmts, for the tests.
const MaxReadStmts = maxReadStmts

// QueuedTx is the number of write transactions waiting for the next batch (group.go).
func (db *DB) QueuedTx() int {
	db.group.mu.Lock()
	defer db.group.mu.Unlock()
	return len(db.group.queue)
}

// SetLinger sets how long db's idle group-commit runner waits for the next call (group.go).
func (db *DB) SetLinger(d time.Duration) {
	db.group.mu.Lock()
	defer db.group.mu.Unlock()
	db.group.linger = d
}

// Runners is the number of group-commit runners db has started, and whether one runs now.
func (db *DB) Runners() (started int64, running bool) {
	db.group.mu.Lock()
	defer db.group.mu.Unlock()
	return db.group.runners.Load(), db.group.running
}
