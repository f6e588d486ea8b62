package store_test

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/internal/store"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

var migrations = []store.Migration{
	{Version: 1, SQL: `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`,
		Postgres: `CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)`},
	{Version: 2, SQL: `ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT ''`},
}

func TestMigrateAndQuery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, "notes", migrations); err != nil {
			t.Fatal(err)
		}
		// Applying again is a no-op.
		if err := db.Migrate(ctx, "notes", migrations); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		if err := db.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		err := db.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO notes (body, author) VALUES ($1, $2)", "hello", "ann")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		// A failing transaction leaves nothing behind.
		boom := errors.New("boom")
		err = db.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO notes (body) VALUES ($1)", "lost"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("tx error %v", err)
		}
		var n int
		var author string
		if err := db.Read().QueryRowContext(ctx, "SELECT COUNT(*), MAX(author) FROM notes").Scan(&n, &author); err != nil {
			t.Fatal(err)
		}
		if n != 1 || author != "ann" {
			t.Fatalf("rows %d author %q", n, author)
		}
	})
}

func TestMigrationsMustIncrease(t *testing.T) {
	db := storetest.SQLite(t)
	err := db.Migrate(context.Background(), "x", []store.Migration{{Version: 2, SQL: "SELECT 1"}, {Version: 1, SQL: "SELECT 1"}})
	if err == nil {
		t.Fatal("out-of-order migrations accepted")
	}
}

func TestConcurrentWrites(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, "notes", migrations); err != nil {
			t.Fatal(err)
		}
		// Many writers at once: SQLite serialises them on its one writer connection instead of
		// failing with "database is locked".
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := db.Write().ExecContext(ctx, "INSERT INTO notes (body) VALUES ($1)", "x")
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var n int
		db.Read().QueryRowContext(ctx, "SELECT COUNT(*) FROM notes").Scan(&n)
		if n != 200 {
			t.Fatalf("%d rows, want 200", n)
		}
	})
}

func TestSQLiteSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Migrate(ctx, "notes", migrations)
	db.Write().ExecContext(ctx, "INSERT INTO notes (body) VALUES ($1)", "kept")
	db.Close()
	db, err = store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var body string
	if err := db.Read().QueryRowContext(ctx, "SELECT body FROM notes").Scan(&body); err != nil || body != "kept" {
		t.Fatalf("after reopen: %q %v", body, err)
	}
}

// TestTxStmt: a statement Prepare made serves every transaction after, from many goroutines
// at once, and a rolled-back transaction leaves it usable; one it did not make is prepared for
// its transaction alone.
func TestTxStmt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, "stmt", migrations); err != nil {
			t.Fatal(err)
		}
		const insert = `INSERT INTO notes (body) VALUES ($1)`
		// Not prepared yet: prepared for the transaction alone.
		if err := db.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			s, err := db.TxStmt(ctx, tx, insert)
			if err != nil {
				return err
			}
			_, err = s.ExecContext(ctx, "unprepared")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := db.Prepare(ctx, insert, insert); err != nil {
			t.Fatal(err)
		}
		insertTx := func(body string) error {
			return db.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				s, err := db.TxStmt(ctx, tx, insert)
				if err != nil {
					return err
				}
				_, err = s.ExecContext(ctx, body)
				return err
			})
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if err := insertTx("note " + string(rune('a'+i))); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		rollback := errors.New("rolled back")
		if err := db.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if _, err := db.TxStmt(ctx, tx, insert); err != nil {
				return err
			}
			return rollback
		}); !errors.Is(err, rollback) {
			t.Fatalf("rollback: %v", err)
		}
		if err := insertTx("after"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM notes`).Scan(&n); err != nil || n != 10 {
			t.Fatalf("%d notes (%v), want 10", n, err)
		}
		if err := db.Prepare(ctx, `NOT SQL`); err == nil {
			t.Fatal("a statement that does not parse was prepared")
		}
	})
}

// TestQuery: a read through a kept statement sees every write committed before it (a kept
// statement holds no snapshot), keeps working across a schema change and from many goroutines,
// reports a bad query as an error, and past the bound queries still run, unkept.
func TestQuery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, "query", migrations[:1]); err != nil {
			t.Fatal(err)
		}
		const count = `SELECT COUNT(*) FROM notes WHERE body LIKE $1`
		insert := func(body string) {
			t.Helper()
			if _, err := db.Write().ExecContext(ctx, `INSERT INTO notes (body) VALUES ($1)`, body); err != nil {
				t.Fatal(err)
			}
		}
		notes := func() int {
			t.Helper()
			var n int
			if err := db.QueryRow(ctx, count, "n%").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for i := range 3 {
			if got := notes(); got != i {
				t.Fatalf("%d notes, want %d", got, i)
			}
			insert("note")
		}
		kept := db.KeptReads()
		if db.Dialect == store.SQLite && kept != 1 {
			t.Fatalf("%d statements kept after one query text, want 1", kept)
		}
		// A schema change under a kept statement.
		if err := db.Migrate(ctx, "query", migrations); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query(ctx, `SELECT body, author FROM notes WHERE body = $1 ORDER BY id`, "note")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var body, author string
			if err := rows.Scan(&body, &author); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil || n != 3 {
			t.Fatalf("%d rows (%v), want 3", n, err)
		}
		if got := notes(); got != 3 {
			t.Fatalf("after the migration: %d notes, want 3", got)
		}
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				var n int
				if err := db.QueryRow(ctx, count, "n%").Scan(&n); err != nil || n != 3 {
					t.Errorf("concurrent read: %d notes (%v), want 3", n, err)
				}
			})
		}
		wg.Wait()
		// Readers are kept once opened: one closed after a burst is opened again at the next,
		// with its statements prepared again (database/sql keeps two unless told). A burst
		// that holds every reader at once, then lets them go:
		burst := make([]*sql.Conn, db.Read().Stats().MaxOpenConnections)
		for i := range burst {
			if burst[i], err = db.Read().Conn(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range burst {
			c.Close()
		}
		if st := db.Read().Stats(); st.MaxIdleClosed != 0 || st.Idle != len(burst) {
			t.Fatalf("after a burst of %d readers: %d closed, %d kept", len(burst), st.MaxIdleClosed, st.Idle)
		}
		if err := db.QueryRow(ctx, `NOT SQL`).Scan(new(int)); err == nil {
			t.Fatal("a query that does not parse ran")
		}
		// Past the bound: every query still answers.
		for i := range store.MaxReadStmts + 10 {
			var got int
			if err := db.QueryRow(ctx, count+" AND id > "+strconv.Itoa(-i), "n%").Scan(&got); err != nil || got != 3 {
				t.Fatalf("query %d: %d notes (%v), want 3", i, got, err)
			}
		}
		if db.Dialect == store.SQLite && db.KeptReads() != store.MaxReadStmts {
			t.Fatalf("%d statements kept, want the bound %d", db.KeptReads(), store.MaxReadStmts)
		}
	})
}
