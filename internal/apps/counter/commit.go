package counter

import (
	"context"
	"database/sql"
	"errors"
)

// Group commit. Every click is a durable write, and a store commits one transaction at a time
// (SQLite has one writer; each commit waits for the disk). Committed one by one, clicks queue
// behind each other's fsync past a few hundred per second. The committer instead takes every
// record waiting at that moment and commits them together, so the cost of a commit is shared;
// each sender still waits for its own record's commit before broadcasting it.

// maxBatch bounds one transaction.
const maxBatch = 512

type pending struct {
	r    record
	done chan error // buffered: the committer never blocks on a sender that gave up
}

type committer struct {
	db    db
	queue chan pending
}

func newCommitter(d db) *committer {
	return &committer{db: d, queue: make(chan pending, 4*maxBatch)}
}

// run commits until ctx ends.
func (c *committer) run(ctx context.Context) {
	for {
		var batch []pending
		select {
		case <-ctx.Done():
			return
		case p := <-c.queue:
			batch = append(batch, p)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case p := <-c.queue:
				batch = append(batch, p)
			default:
				break more
			}
		}
		if err := c.store(ctx, batch); err != nil && len(batch) > 1 {
			// One record must not sink the others: commit them one by one.
			for _, p := range batch {
				p.done <- c.store(ctx, []pending{p})
			}
			continue
		} else {
			for _, p := range batch {
				p.done <- err
			}
		}
	}
}

func (c *committer) store(ctx context.Context, batch []pending) error {
	return c.db.Tx(context.WithoutCancel(ctx), func(tx *sql.Tx) error {
		for _, p := range batch {
			if err := p.r.apply(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
}

var errQueueFull = errors.New("counter: the store is behind; record dropped")

// commit stores r with the next batch and waits for it. A full queue fails at once rather
// than piling up work the store cannot keep up with.
func (c *committer) commit(ctx context.Context, r record) error {
	p := pending{r: r, done: make(chan error, 1)}
	select {
	case c.queue <- p:
	default:
		return errQueueFull
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
