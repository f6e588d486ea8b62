// Package store opens Switchboard's database: an embedded SQLite file by default, or
// PostgreSQL for a cluster. SQL is written once with $1-style placeholders, which both
// drivers accept; each app keeps its migrations next to its code and applies them with
// Migrate.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver (pure Go)
)

// Dialect names the engine behind a DB.
type Dialect string

// Dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is the store handle. For SQLite, writes go through one connection (SQLite has one
// writer; a pool of writers only trades "database is locked" errors) and reads through a pool.
// For PostgreSQL both are the same pool.
type DB struct {
	Dialect Dialect
	write   *sql.DB
	read    *sql.DB
	// stmts holds the statements prepared on the write handle, by query (see Prepare).
	stmts sync.Map
	// reads holds the statements prepared on the read handle, by query (see Query); nreads
	// counts them against maxReadStmts.
	reads  sync.Map
	nreads atomic.Int32
	// group queues SQLite's write transactions for group commit (group.go).
	group group
}

// maxReadStmts bounds the read statements kept. Queries are the code's texts, a few of them
// built with a list of placeholders as long as the list they take (an IN), so there are at
// most a few hundred; past the bound, a query is prepared for its one call.
const maxReadStmts = 512

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens dsn: a postgres:// URL, or else the SQLite file switchboard.db in dataDir
// (created with its directory).
func Open(ctx context.Context, dsn, dataDir string) (*DB, error) {
	if IsPostgres(dsn) {
		return openPostgres(ctx, dsn)
	}
	path := dsn
	if path == "" {
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return nil, fmt.Errorf("store: create data dir: %w", err)
		}
		path = filepath.Join(dataDir, "switchboard.db")
	}
	return openSQLite(ctx, path)
}

// Connection pool sizes.
const (
	maxConnsPG       = 20
	maxReadersSQLite = 8
)

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	// Every connection is kept while it is in use at all: one closed when a burst ends is
	// dialled again at the next, and pgx's statement cache is per connection.
	pool.SetMaxOpenConns(maxConnsPG)
	pool.SetMaxIdleConns(maxConnsPG)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect postgres: %w", err)
	}
	return &DB{Dialect: Postgres, write: pool, read: pool}, nil
}

// sqlitePragmas are set on every connection: wait rather than fail on a lock, WAL so readers
// never block the writer, synchronous=FULL so a write a client was told succeeded survives a
// power cut, and foreign keys on.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"

func openSQLite(ctx context.Context, path string) (*DB, error) {
	base := "file:" + path + "?" + sqlitePragmas
	write, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", base+"&mode=ro")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("store: open sqlite %s for reading: %w", path, err)
	}
	// database/sql keeps 2 idle connections unless told: it closed six of the eight after
	// every burst of reads and opened them again at the next, each time parsing the schema,
	// starting on a cold page cache and preparing every kept statement again (a tenth of a
	// G2 discovery request's CPU under load).
	read.SetMaxOpenConns(maxReadersSQLite)
	read.SetMaxIdleConns(maxReadersSQLite)
	return &DB{Dialect: SQLite, write: write, read: read}, nil
}

// Write returns the handle for statements that change data.
func (db *DB) Write() *sql.DB { return db.write }

// Read returns the handle for queries.
func (db *DB) Read() *sql.DB { return db.read }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Query runs a read query on the read handle. On SQLite it runs through a statement prepared
// once per query text and kept: modernc parses and plans a statement on every call, which was
// a sixth of a discovery request's CPU. pgx keeps its own statement cache.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := db.readStmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.read.QueryContext(ctx, query, args...)
}

// QueryRow is Query for one row.
func (db *DB) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s := db.readStmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.read.QueryRowContext(ctx, query, args...)
}

// readStmt returns query's kept statement, preparing it on first use; nil on PostgreSQL,
// past the bound, or when it does not prepare (the plain call then reports the error).
func (db *DB) readStmt(ctx context.Context, query string) *sql.Stmt {
	if db.Dialect != SQLite {
		return nil
	}
	if s, ok := db.reads.Load(query); ok {
		return s.(*sql.Stmt)
	}
	if db.nreads.Load() >= maxReadStmts {
		return nil
	}
	s, kept, err := keep(ctx, &db.reads, db.read, query)
	if err != nil {
		return nil
	}
	if kept {
		db.nreads.Add(1)
	}
	return s
}

// keep returns query's statement in m, preparing it on h and storing it when m has none;
// kept reports that this call stored it (a statement prepared meanwhile by another caller wins).
func keep(ctx context.Context, m *sync.Map, h *sql.DB, query string) (s *sql.Stmt, kept bool, err error) {
	if s, ok := m.Load(query); ok {
		return s.(*sql.Stmt), false, nil
	}
	s, err = h.PrepareContext(ctx, query)
	if err != nil {
		return nil, false, fmt.Errorf("store: prepare: %w", err)
	}
	if prev, loaded := m.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), false, nil
	}
	return s, true, nil
}

// Close closes both handles.
func (db *DB) Close() error {
	for _, m := range []*sync.Map{&db.stmts, &db.reads} {
		m.Range(func(_, s any) bool {
			s.(*sql.Stmt).Close()
			return true
		})
	}
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Prepare prepares queries on the write handle, once, for TxStmt. Call it outside any
// transaction: on SQLite the write handle has one connection, which a transaction holds.
// SQLite (modernc) otherwise parses and plans a statement on every call, which was 5% of the
// server's CPU under the counter's clicks; pgx caches its statements by itself. The queries
// are the code's constants: the cache keeps every one it is given.
func (db *DB) Prepare(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		if _, _, err := keep(ctx, &db.stmts, db.write, q); err != nil {
			return err
		}
	}
	return nil
}

// TxStmt returns query for tx: the statement Prepare made, or else one prepared for tx alone.
func (db *DB) TxStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if s, ok := db.stmts.Load(query); ok {
		return tx.StmtContext(ctx, s.(*sql.Stmt)), nil
	}
	s, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	return s, nil
}

// Tx runs fn in a write transaction, committing if it returns nil. fn runs its statements
// with the context it is given. On SQLite, the transaction may hold other calls' functions
// too, each in its own savepoint (group.go), and that context does not end with ctx: a
// statement SQLite interrupts rolls back the whole transaction, the other calls' writes with
// it. ctx still bounds the wait for the writer.
func (db *DB) Tx(ctx context.Context, fn func(context.Context, *sql.Tx) error) (err error) {
	if db.Dialect == SQLite {
		return db.txGrouped(ctx, fn)
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(ctx, tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Exec runs one write statement. On SQLite it runs in the group commit beside the writes
// queued with it (Tx): on the write handle directly, every such statement had a commit and
// an fsync to itself, and the writes behind it queued for each (a G4 call's replay nonce made
// every signed call wait for one). PostgreSQL runs it on its own (it groups commits itself).
func (db *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if db.Dialect != SQLite {
		return db.write.ExecContext(ctx, query, args...)
	}
	var res sql.Result
	err := db.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := db.TxStmt(ctx, tx, query) // the one Prepare made, if it is a hot statement
		if err != nil {
			return err
		}
		res, err = st.ExecContext(ctx, args...)
		return err
	})
	return res, err
}

// Migration is one step of an app's schema. Postgres holds that engine's text where the two
// differ; empty means SQL serves both.
type Migration struct {
	Version  int
	SQL      string
	Postgres string
}

// Migrate applies app's migrations that have not run yet, each in its own transaction, in
// version order. On PostgreSQL an advisory lock keeps nodes that start together from racing:
// every step, the creation of the migrations table included, happens under it (two
// concurrent CREATE TABLE IF NOT EXISTS can both try to create the table's type and one
// fails).
func (db *DB) Migrate(ctx context.Context, app string, ms []Migration) error {
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		app TEXT NOT NULL, version INTEGER NOT NULL, applied_at BIGINT NOT NULL,
		PRIMARY KEY (app, version))`
	last := 0
	for _, m := range ms {
		if m.Version <= last {
			return fmt.Errorf("store: %s migrations must have increasing versions (%d after %d)", app, m.Version, last)
		}
		last = m.Version
		err := db.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if db.Dialect == Postgres {
				h := fnv.New64a()
				h.Write([]byte("switchboard-migrate"))
				if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(h.Sum64()>>1)); err != nil {
					return fmt.Errorf("lock: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, create); err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE app = $1 AND version = $2", app, m.Version).Scan(&n); err != nil {
				return fmt.Errorf("read: %w", err)
			}
			if n > 0 {
				return nil
			}
			text := m.SQL
			if db.Dialect == Postgres && m.Postgres != "" {
				text = m.Postgres
			}
			if _, err := tx.ExecContext(ctx, text); err != nil {
				return fmt.Errorf("apply: %w", err)
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (app, version, applied_at) VALUES ($1, $2, $3)", app, m.Version, time.Now().Unix())
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migrate %s to %d: %w", app, m.Version, err)
		}
	}
	return nil
}
