package counter

import (
	"context"
	"database/sql"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/internal/metrics"
)

// Group commit, behind the broadcast. A click or event is queued for the store and broadcast
// at once; it does not wait for the disk. The committer takes everything queued at that moment
// and commits it as one transaction (SQLite has one writer and each commit waits for an fsync,
// so committing one by one would queue clicks behind each other's fsync), then everything that
// queued meanwhile, and so on. Commits start at least the commit window (apps.counter.
// commit_window) apart, unless the last one was full: a steady stream of clicks is then
// stored a window's worth per transaction instead of one or two per fsync, which was a third
// of the server's CPU at 200 clicks/s. A click after a quiet spell is committed at once.
//
// The promise, exactly:
//   - Every record that was queued is committed once: a failed commit is retried (one record
//     at a time, so one bad record cannot sink the others) until the store takes it, for as
//     long as the store is reachable; a stopping node commits everything queued before it
//     exits. A record the store refuses for itself (the database answers, but not to that
//     record) is logged with its content and counted in
//     switchboard_refused_total{limit="counter_store_failed"}.
//   - The broadcast runs ahead of the store by at most one commit window: the records of the
//     commit in progress and those queued since, which the next commit takes, at most the
//     window after the one in progress started. A crash (kill -9, power loss) loses at most
//     those; everything broadcast before is stored.
//   - The queue is bounded (maxQueued). When it is full the store is behind: a sender waits
//     for room (backpressure: its socket's events are handled one at a time, so it slows down)
//     for up to backpressure; past that the record is refused before anything is broadcast,
//     counted in switchboard_refused_total{limit="counter_store_behind"} and reported in a log
//     line with the count every 10 s. Nothing is dropped without a trace.

// maxBatch bounds one transaction.
const maxBatch = 512

// maxQueued bounds the records waiting for the store.
const maxQueued = 8 * maxBatch

// backpressure is how long a sender waits for room in a full queue.
const backpressure = 2 * time.Second

type committer struct {
	db      db
	log     *slog.Logger
	window  time.Duration                             // the least time between the starts of two commits
	hold    func(context.Context, time.Duration) bool // sleep; a test holds it
	queue   chan record
	done    chan struct{} // closed when run has committed everything and returned
	refused atomic.Int64  // records refused since the last report
}

func newCommitter(d db, log *slog.Logger, window time.Duration) *committer {
	return &committer{db: d, log: log, window: window, hold: sleep, queue: make(chan record, maxQueued), done: make(chan struct{})}
}

// add queues r for the store and reports whether it was taken (see the promise above).
func (c *committer) add(r record) bool {
	select {
	case c.queue <- r:
		return true
	default:
	}
	t := time.NewTimer(backpressure)
	defer t.Stop()
	select {
	case c.queue <- r:
		return true
	case <-t.C:
	}
	metrics.Refused.WithLabelValues("counter_store_behind").Inc()
	c.refused.Add(1)
	return false
}

// sync waits until everything queued before it is committed (tests, and a caller that must
// read its own writes).
func (c *committer) sync(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case c.queue <- record{synced: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run commits until ctx ends, then commits what is left and returns.
func (c *committer) run(ctx context.Context) {
	defer close(c.done)
	report := time.NewTicker(10 * time.Second)
	defer report.Stop()
	for {
		select {
		case <-ctx.Done():
			c.drain()
			return
		case <-report.C:
			c.report()
		case r := <-c.queue:
			start := time.Now()
			batch := c.take(r)
			wrote := c.commit(batch)
			if wrote && len(batch) < maxBatch && !c.wait(ctx, start) {
				c.drain()
				return
			}
		}
	}
}

// wait lets the commit window pass since start, so that what is queued meanwhile shares the
// next commit; false when ctx ended first.
func (c *committer) wait(ctx context.Context, start time.Time) bool {
	d := c.window - time.Since(start)
	if d <= 0 {
		return true
	}
	return c.hold(ctx, d)
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// take gathers the records waiting behind first, up to maxBatch.
func (c *committer) take(first record) []record {
	batch := []record{first}
	for len(batch) < maxBatch {
		select {
		case r := <-c.queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// drain commits everything still queued (the node is stopping; senders are gone).
func (c *committer) drain() {
	for {
		select {
		case r := <-c.queue:
			c.commit(c.take(r))
		default:
			c.report()
			return
		}
	}
}

func (c *committer) report() {
	if n := c.refused.Swap(0); n > 0 {
		c.log.Warn("counter: the store is behind; clicks and events refused", "refused", n, "queued", len(c.queue))
	}
}

// commit stores a batch; when the transaction fails, each record is retried alone until it is
// stored, or the store is reachable and still refuses it. It reports whether there was
// anything to write.
func (c *committer) commit(batch []record) bool {
	if !slices.ContainsFunc(batch, record.counts) {
		release(batch) // only sync points: there is nothing to write
		return false
	}
	if c.store(batch) == nil {
		release(batch)
		return true
	}
	for _, r := range batch {
		if !r.counts() {
			continue
		}
		for attempt := 1; ; attempt++ {
			err := c.store([]record{r})
			if err == nil {
				break
			}
			if c.db.Ping(context.Background()) == nil && attempt >= 3 {
				metrics.Refused.WithLabelValues("counter_store_failed").Inc()
				c.log.Error("counter: the store refuses a record", "err", err, "click", r.click, "event", r.event)
				break
			}
			c.log.Warn("counter: store unavailable; retrying", "err", err, "attempt", attempt, "queued", len(c.queue))
			time.Sleep(min(5*time.Second, time.Duration(attempt)*200*time.Millisecond))
		}
	}
	release(batch)
	return true
}

// release tells the waiters of sync that their point is committed.
func release(batch []record) {
	for _, r := range batch {
		if r.synced != nil {
			close(r.synced)
		}
	}
}

func (c *committer) store(batch []record) error {
	ctx := context.Background()
	return c.db.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error { return c.db.storeBatch(ctx, tx, batch) })
}
