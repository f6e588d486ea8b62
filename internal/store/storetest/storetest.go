// Package storetest runs a test against every store engine: a fresh SQLite file, and a fresh
// schema in the PostgreSQL named by SWITCHBOARD_TEST_POSTGRES (default: the machine's local
// server, database "test"). Without PostgreSQL the PostgreSQL run is skipped with a message,
// except under CI=true, where a missing service fails the test.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/store"
)

// DefaultPostgres is the DSN used when SWITCHBOARD_TEST_POSTGRES is unset.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Each runs fn once per engine, as subtests named "sqlite" and "postgres".
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite opens a fresh database file in a temporary directory.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Postgres opens the test server in a schema of its own, dropped when the test ends.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := store.Open(ctx, PostgresDSN(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PostgresDSN creates a schema of its own on the test server and returns a DSN that uses it
// (for a whole node in a test); the schema is dropped when the test ends. Without PostgreSQL
// the test is skipped with a message, or fails under CI=true.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("SWITCHBOARD_TEST_POSTGRES")
	if dsn == "" {
		dsn = DefaultPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", dsn)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true but not reachable at %s: %v", redact(dsn), err)
		}
		t.Skipf("PostgreSQL not reachable at %s (%v): set SWITCHBOARD_TEST_POSTGRES to run the PostgreSQL store tests", redact(dsn), err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "sbtest_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Registered before the users' cleanups, so it runs after they closed their handles.
	t.Cleanup(func() {
		c, err := sql.Open("pgx", dsn)
		if err == nil {
			_, _ = c.Exec("DROP SCHEMA " + schema + " CASCADE")
			c.Close()
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}
