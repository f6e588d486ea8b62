package store

// KeptReads is the number of read statements db keeps (see Query).
func (db *DB) KeptReads() int { return int(db.nreads.Load()) }

// MaxReadStmts is maxReadStmts, for the tests.
const MaxReadStmts = maxReadStmts
