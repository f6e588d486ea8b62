package counter

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/clocktest"
	"github.com/switchboard/switchboard/internal/store"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

// TestCommitWindow: a click after a quiet spell is committed at once; the next commit waits
// for the rest of the window, and everything queued meanwhile shares it; a committer stopped
// during the wait commits what is queued before it returns. The window is held by the test,
// not timed.
func TestCommitWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.DB) {
		a, _, _ := newApp(t, st, nil)
		c := newCommitter(a.db, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Hour)
		held := clocktest.NewHeld()
		c.hold = held.Wait
		ctx, stop := context.WithCancel(context.Background())
		go c.run(ctx)
		defer func() { stop(); <-c.done }()
		clicks := func() int64 {
			t.Helper()
			var n int64
			if err := st.Read().QueryRowContext(context.Background(), `SELECT clicks FROM counter_totals WHERE id = 1`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		add := func(user string) {
			t.Helper()
			if !c.add(record{click: &Click{User: user, Timestamp: 1_700_000_000}}) {
				t.Fatal("click refused")
			}
		}
		add("ana")
		held.Asked(t, "the committer", time.Hour) // the first commit went at once, and it now waits
		if n := clicks(); n != 1 {
			t.Fatalf("%d clicks stored before the window passed, want the first one", n)
		}
		add("ben")
		add("cat")
		synced := make(chan error, 1)
		go func() { synced <- c.sync(context.Background()) }()
		for deadline := time.Now().Add(10 * time.Second); len(c.queue) < 3; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) { // a guard, not a timing
				t.Fatal("the sync point was not queued")
			}
		}
		held.Release(t) // the window passes once: ben, cat and the sync point share a commit
		if err := <-synced; err != nil {
			t.Fatal(err)
		}
		if n := clicks(); n != 3 {
			t.Fatalf("%d clicks stored, want 3", n)
		}
		held.Asked(t, "the committer", time.Hour) // and it waits again
		add("dan")
		stop() // stopped during the wait: it commits dan, then returns
		<-c.done
		if n := clicks(); n != 4 {
			t.Fatalf("%d clicks stored after the stop, want 4", n)
		}
	})
}
