package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/store"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

// groupCall is one transaction of a table test.
type groupCall struct {
	name string
	ctx  context.Context
	fn   func(context.Context, *sql.Tx) error
	want string // "" for success, else what the error or panic says
}

// run runs the call on db and returns what its caller was told: "", the error or the panic.
func (c groupCall) run(db *store.DB) (got string) {
	defer func() {
		if p := recover(); p != nil {
			got = fmt.Sprint(p)
		}
	}()
	if err := db.Tx(c.ctx, c.fn); err != nil {
		return err.Error()
	}
	return ""
}

func (c groupCall) check(t *testing.T, got string) {
	t.Helper()
	if (c.want == "") != (got == "") || (c.want != "" && !strings.Contains(got, c.want)) {
		t.Errorf("%s: got %q, want %q", c.name, got, c.want)
	}
}

// TestGroupCommit: SQLite's write transactions that queue while one runs share the next
// commit, each in its own savepoint: one that fails, panics or was given up leaves no write
// and takes none of the others' with it; every caller returns once its writes are committed.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	if err := db.Migrate(ctx, "group", migrations[:1]); err != nil {
		t.Fatal(err)
	}
	insert := func(body string) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO notes (body) VALUES ($1)`, body)
			return err
		}
	}
	// The first transaction holds the writer until the others are queued behind it, so they
	// make one batch.
	release, holding := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- db.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			close(holding)
			<-release
			return insert("first")(ctx, tx)
		})
	}()
	<-holding
	errFailed := errors.New("refused")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	calls := []groupCall{
		{"ok 1", ctx, insert("ok 1"), ""},
		{"fails after a write", ctx, func(ctx context.Context, tx *sql.Tx) error {
			if err := insert("failed")(ctx, tx); err != nil {
				return err
			}
			return errFailed
		}, "refused"},
		{"ok 2", ctx, insert("ok 2"), ""},
		{"panics after a write", ctx, func(ctx context.Context, tx *sql.Tx) error {
			_ = insert("panicked")(ctx, tx)
			panic("boom")
		}, "boom"},
		{"bad SQL", ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO nowhere VALUES (1)`)
			return err
		}, "no such table"},
		{"given up", cancelled, insert("given up"), "canceled"},
		{"ok 3", ctx, insert("ok 3"), ""},
	}
	var wg sync.WaitGroup
	got := make([]string, len(calls))
	for i, c := range calls {
		wg.Go(func() { got[i] = c.run(db) })
	}
	for deadline := time.Now().Add(10 * time.Second); db.QueuedTx() < len(calls); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d transactions queued", db.QueuedTx(), len(calls))
		}
	}
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, c := range calls {
		c.check(t, got[i])
	}
	// Read through the read pool: what each caller was told is committed is there.
	stored := bodies(t, db)
	want := map[string]bool{"first": true, "ok 1": true, "ok 2": true, "ok 3": true}
	if len(stored) != len(want) {
		t.Fatalf("stored %q, want the four that succeeded", stored)
	}
	for _, b := range stored {
		if !want[b] {
			t.Fatalf("stored %q, want only the four that succeeded", stored)
		}
	}
}

// TestGroupCommitGiveUp: a caller whose context ends while its transaction waits for the
// writer returns at once, and its function never runs.
func TestGroupCommitGiveUp(t *testing.T) {
	ctx := context.Background()
	db, release, first := heldWriter(t)
	waiting, cancel := context.WithCancel(ctx)
	ran := make(chan struct{}, 1)
	gaveUp := make(chan error, 1)
	go func() {
		gaveUp <- db.Tx(waiting, func(context.Context, *sql.Tx) error {
			ran <- struct{}{}
			return nil
		})
	}()
	for deadline := time.Now().Add(10 * time.Second); db.QueuedTx() < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second transaction never queued")
		}
	}
	cancel()
	select {
	case err := <-gaveUp:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("gave up with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the caller still waits for the writer after giving up")
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The writer is free again; a later transaction runs, and the abandoned one did not.
	if err := db.Tx(ctx, func(context.Context, *sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
		t.Fatal("an abandoned transaction ran")
	default:
	}
}

// TestGroupCommitGiveUpWhileRunning: a caller whose context ends while its function runs gets
// the batch's outcome: its function's statements run on (an interrupted SQLite statement
// would roll back the other calls' writes in the batch too), and its write and the next
// call's are committed.
func TestGroupCommitGiveUpWhileRunning(t *testing.T) {
	ctx := context.Background()
	db, release, first := heldWriter(t)
	leaving, leave := context.WithCancel(ctx)
	running := make(chan struct{})
	results := make(chan error, 2)
	go func() {
		results <- db.Tx(leaving, func(ctx context.Context, tx *sql.Tx) error {
			close(running)
			<-leaving.Done() // its caller gives up now
			// Many rows, so that an interruption would land inside the statement.
			_, err := tx.ExecContext(ctx, `INSERT INTO notes (body)
				WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) SELECT 'left' FROM n`)
			return err
		})
	}()
	for deadline := time.Now().Add(10 * time.Second); db.QueuedTx() < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the transaction never queued")
		}
	}
	go func() {
		results <- db.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('stayed')`)
			return err
		})
	}()
	for deadline := time.Now().Add(10 * time.Second); db.QueuedTx() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second transaction never queued")
		}
	}
	close(release)
	<-running
	leave()
	for range 2 {
		if err := <-results; err != nil {
			t.Fatalf("a call of the batch failed: %v", err)
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	var left, stayed int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FILTER (WHERE body = 'left'), COUNT(*) FILTER (WHERE body = 'stayed') FROM notes`).Scan(&left, &stayed); err != nil {
		t.Fatal(err)
	}
	if left != 20000 || stayed != 1 {
		t.Fatalf("stored %d rows of the call given up and %d of the other, want 20000 and 1", left, stayed)
	}
}

// heldWriter returns a migrated SQLite store whose writer runs a transaction until release is
// closed (first reports its outcome), so that calls made meanwhile queue behind it.
func heldWriter(t *testing.T) (db *store.DB, release chan struct{}, first <-chan error) {
	t.Helper()
	ctx := context.Background()
	db = storetest.SQLite(t)
	if err := db.Migrate(ctx, "group", migrations[:1]); err != nil {
		t.Fatal(err)
	}
	release, holding := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Tx(ctx, func(context.Context, *sql.Tx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	return db, release, done
}

// TestExecJoinsGroupCommit: a single write statement (DB.Exec) on SQLite queues for the group
// commit like a transaction, instead of holding the writer for a commit of its own, and
// reports its result.
func TestExecJoinsGroupCommit(t *testing.T) {
	ctx := context.Background()
	db, release, first := heldWriter(t)
	results := make(chan int64, 2)
	for _, body := range []string{"a", "b"} {
		go func() {
			res, err := db.Exec(ctx, `INSERT INTO notes (body) VALUES ($1)`, body)
			if err != nil {
				t.Error(err)
				results <- -1
				return
			}
			n, err := res.RowsAffected()
			if err != nil {
				t.Error(err)
			}
			results <- n
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); db.QueuedTx() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) { // a guard, not a timing
			t.Fatalf("%d of 2 statements queued for the group commit", db.QueuedTx())
		}
	}
	close(release)
	for range 2 {
		if n := <-results; n != 1 {
			t.Fatalf("a statement reports %d rows, want 1", n)
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitAlone: a call that has its batch to itself (nothing queued beside it) runs
// without a savepoint, with the same outcome: a failure or a panic leaves none of its writes,
// and the calls after it are not affected.
func TestGroupCommitAlone(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	if err := db.Migrate(ctx, "group", migrations[:1]); err != nil {
		t.Fatal(err)
	}
	insert := func(ctx context.Context, tx *sql.Tx, body string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO notes (body) VALUES ($1)`, body)
		return err
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	calls := []groupCall{
		{"ok 1", ctx, func(ctx context.Context, tx *sql.Tx) error { return insert(ctx, tx, "ok 1") }, ""},
		{"fails after a write", ctx, func(ctx context.Context, tx *sql.Tx) error {
			if err := insert(ctx, tx, "failed"); err != nil {
				return err
			}
			return errors.New("refused")
		}, "refused"},
		{"panics after a write", ctx, func(ctx context.Context, tx *sql.Tx) error {
			_ = insert(ctx, tx, "panicked")
			panic("boom")
		}, "boom"},
		{"bad SQL after a write", ctx, func(ctx context.Context, tx *sql.Tx) error {
			_ = insert(ctx, tx, "before bad SQL")
			_, err := tx.ExecContext(ctx, `INSERT INTO nowhere VALUES (1)`)
			return err
		}, "no such table"},
		{"given up", cancelled, func(ctx context.Context, tx *sql.Tx) error { return insert(ctx, tx, "given up") }, "canceled"},
		{"ok 2", ctx, func(ctx context.Context, tx *sql.Tx) error { return insert(ctx, tx, "ok 2") }, ""},
	}
	for _, c := range calls {
		c.check(t, c.run(db))
	}
	if got := bodies(t, db); strings.Join(got, ",") != "ok 1,ok 2" {
		t.Fatalf("stored %q, want the two that succeeded", got)
	}
}

// TestGroupCommitRunnerComesAndGoes: the runner that waits for the next call and the one
// started after it has gone run every call, whether calls come while it waits, as it leaves
// or after.
func TestGroupCommitRunnerComesAndGoes(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	db.SetLinger(time.Millisecond)
	if err := db.Migrate(ctx, "group", migrations[:1]); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				// Pauses around the linger, so that calls find the runner busy, waiting,
				// leaving and gone.
				time.Sleep(time.Duration((w*each+i)%3) * time.Millisecond)
				if _, err := db.Exec(ctx, `INSERT INTO notes (body) VALUES ($1)`, fmt.Sprint(w, "-", i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := bodies(t, db); len(got) != writers*each {
		t.Fatalf("stored %d notes, want %d", len(got), writers*each)
	}
}

// bodies returns the notes' bodies in the order they were stored.
func bodies(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT body FROM notes ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGroupCommitRunnerStays: one runner serves calls that come within its linger, instead
// of one runner per commit; it leaves once none has come for that long, and the next call
// starts another.
func TestGroupCommitRunnerStays(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	if err := db.Migrate(ctx, "group", migrations[:1]); err != nil {
		t.Fatal(err)
	}
	note := func() {
		t.Helper()
		if _, err := db.Exec(ctx, `INSERT INTO notes (body) VALUES ('x')`); err != nil {
			t.Fatal(err)
		}
	}
	db.SetLinger(time.Hour)
	note()
	first, _ := db.Runners()
	for range 20 {
		note()
	}
	if started, running := db.Runners(); started != first || !running {
		t.Fatalf("20 calls within the linger started %d runners (running: %v), want none", started-first, running)
	}
	db.SetLinger(time.Millisecond)
	note() // the runner's next wait is the short one
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, running := db.Runners(); !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the runner stayed past its linger")
		}
	}
	note()
	if started, _ := db.Runners(); started != first+1 {
		t.Fatalf("a call after the runner left started %d runners, want 1", started-first)
	}
}
