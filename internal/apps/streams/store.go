package streams

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/store"
)

// api.twizzle.net kept users and tokens in JSON files (tokens in plaintext) and streams in
// one process's memory (spec A8). Here everything is in the store, tokens as hashes, so any
// node serves any stream and a restart loses nothing.
const schema = `
CREATE TABLE streams_users (
	id         TEXT   PRIMARY KEY, -- user_<16 hex>
	provider   TEXT   NOT NULL,
	account_id TEXT   NOT NULL,
	handle     TEXT,               -- WCA ID, or NULL
	name       TEXT   NOT NULL,
	profile    TEXT   NOT NULL,    -- the provider's user info, JSON
	created_at BIGINT NOT NULL,
	UNIQUE (provider, account_id)
);
CREATE TABLE streams_tokens (
	token_hash TEXT   PRIMARY KEY,
	user_id    TEXT   NOT NULL REFERENCES streams_users (id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE TABLE streams_claims (
	claim_hash TEXT   PRIMARY KEY,
	user_id    TEXT   NOT NULL REFERENCES streams_users (id) ON DELETE CASCADE,
	expires_at BIGINT NOT NULL
);
CREATE TABLE streams_streams (
	id         TEXT   PRIMARY KEY, -- twizzle_stream_<16 hex>
	owner      TEXT   REFERENCES streams_users (id) ON DELETE CASCADE, -- NULL: anonymous
	created_at BIGINT NOT NULL,
	idle_since BIGINT              -- when it last had no sender; NULL while one is connected
);
CREATE INDEX streams_streams_owner ON streams_streams (owner);
CREATE TABLE streams_senders (
	conn_id   TEXT   PRIMARY KEY,
	stream_id TEXT   NOT NULL REFERENCES streams_streams (id) ON DELETE CASCADE,
	seen_at   BIGINT NOT NULL -- refreshed by its node; a stale row is a dead node's
);
CREATE INDEX streams_senders_stream ON streams_senders (stream_id);
`

// viewersSchema (version 2) keeps each node's count of viewers per stream, so the console
// shows a stream's viewers on every node. A node replaces its rows at every sweep; a dead
// node's rows go when they are as stale as a dead node's senders.
const viewersSchema = `
CREATE TABLE streams_viewers (
	node_id   TEXT    NOT NULL,
	stream_id TEXT    NOT NULL REFERENCES streams_streams (id) ON DELETE CASCADE,
	viewers   INTEGER NOT NULL,
	seen_at   BIGINT  NOT NULL,
	PRIMARY KEY (node_id, stream_id)
);
CREATE INDEX streams_viewers_seen ON streams_viewers (seen_at);
`

var migrations = []store.Migration{{Version: 1, SQL: schema}, {Version: 2, SQL: viewersSchema}}

var errNotFound = errors.New("not found")

type db struct{ *store.DB }

// randomID is prefix + n random bytes in lowercase hex, twizzle's identifier shape (A2).
func randomID(prefix string, n int) string { return prefix + auth.RandomHex(n) }

// UserInfo is a sender as the API shows it.
type UserInfo struct {
	ID    string  `json:"twizzleUserID"`
	WCAID *string `json:"wcaID"`
	Name  string  `json:"name"`
}

// upsertUser returns the user of a provider account, creating it on first login.
func (d db) upsertUser(ctx context.Context, provider, account string, handle *string, name, profile string, now int64) (string, error) {
	var id string
	err := d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id FROM streams_users WHERE provider = $1 AND account_id = $2`, provider, account).Scan(&id)
		if err == nil {
			// Unlike twizzle, a later login refreshes the profile (a changed name shows).
			_, err = tx.ExecContext(ctx, `UPDATE streams_users SET handle = $1, name = $2, profile = $3 WHERE id = $4`, handle, name, profile, id)
			return err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		id = randomID("user_", 8)
		_, err = tx.ExecContext(ctx, `INSERT INTO streams_users (id, provider, account_id, handle, name, profile, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			id, provider, account, handle, name, profile, now)
		return err
	})
	return id, err
}

func (d db) user(ctx context.Context, id string) (UserInfo, error) {
	var u UserInfo
	var handle sql.NullString
	err := d.QueryRow(ctx, `SELECT id, handle, name FROM streams_users WHERE id = $1`, id).Scan(&u.ID, &handle, &u.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return u, errNotFound
	}
	if handle.Valid {
		u.WCAID = &handle.String
	}
	return u, err
}

func (d db) addClaim(ctx context.Context, claim, user string, expires int64) error {
	_, err := d.Exec(ctx, `INSERT INTO streams_claims (claim_hash, user_id, expires_at) VALUES ($1, $2, $3)`, auth.HashToken(claim), user, expires)
	return err
}

// useClaim consumes a live claim token (single use) and returns its user.
func (d db) useClaim(ctx context.Context, claim string, now int64) (string, error) {
	var user string
	err := d.Write().QueryRowContext(ctx, `DELETE FROM streams_claims WHERE claim_hash = $1 AND expires_at > $2 RETURNING user_id`,
		auth.HashToken(claim), now).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNotFound
	}
	return user, err
}

func (d db) addToken(ctx context.Context, token, user string, now, expires int64) error {
	_, err := d.Exec(ctx, `INSERT INTO streams_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		auth.HashToken(token), user, now, expires)
	return err
}

func (d db) tokenUser(ctx context.Context, token string, now int64) (string, error) {
	var user string
	err := d.QueryRow(ctx, `SELECT user_id FROM streams_tokens WHERE token_hash = $1 AND expires_at > $2`, auth.HashToken(token), now).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNotFound
	}
	return user, err
}

func (d db) deleteToken(ctx context.Context, token string) (bool, error) {
	res, err := d.Exec(ctx, `DELETE FROM streams_tokens WHERE token_hash = $1`, auth.HashToken(token))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// stream is one row of streams_streams with its sender's info.
type stream struct {
	ID    string
	Owner *UserInfo
}

// createStream adds a stream of owner ("" for anonymous), refusing past max per owner.
func (d db) createStream(ctx context.Context, owner string, max int, now int64) (string, error) {
	id := randomID("twizzle_stream_", 8)
	err := d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if owner != "" {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM streams_streams WHERE owner = $1`, owner).Scan(&n); err != nil {
				return err
			}
			if n >= max {
				return errTooMany
			}
		}
		var o any
		if owner != "" {
			o = owner
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO streams_streams (id, owner, created_at, idle_since) VALUES ($1, $2, $3, $3)`, id, o, now)
		return err
	})
	return id, err
}

var errTooMany = errors.New("too many streams")

// streams lists the live streams in creation order, or one when id is set.
func (d db) streams(ctx context.Context, id string) ([]stream, error) {
	q := `SELECT s.id, u.id, u.handle, u.name FROM streams_streams s LEFT JOIN streams_users u ON u.id = s.owner`
	var args []any
	if id != "" {
		q += ` WHERE s.id = $1`
		args = append(args, id)
	}
	rows, err := d.Query(ctx, q+` ORDER BY s.created_at, s.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	defer rows.Close()
	var out []stream
	for rows.Next() {
		var s stream
		var uid, handle, name sql.NullString
		if err := rows.Scan(&s.ID, &uid, &handle, &name); err != nil {
			return nil, err
		}
		if uid.Valid {
			s.Owner = &UserInfo{ID: uid.String, Name: name.String}
			if handle.Valid {
				s.Owner.WCAID = &handle.String
			}
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// senderJoined records a sender socket; the stream is no longer idle.
func (d db) senderJoined(ctx context.Context, conn, streamID string, now int64) error {
	return d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO streams_senders (conn_id, stream_id, seen_at) VALUES ($1, $2, $3)`, conn, streamID, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE streams_streams SET idle_since = NULL WHERE id = $1`, streamID)
		return err
	})
}

// senderLeft forgets a sender socket; with no sender left, the stream's idle time starts.
func (d db) senderLeft(ctx context.Context, conn, streamID string, now int64) error {
	return d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM streams_senders WHERE conn_id = $1`, conn); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE streams_streams SET idle_since = $1
			WHERE id = $2 AND NOT EXISTS (SELECT 1 FROM streams_senders WHERE stream_id = $2)`, now, streamID)
		return err
	})
}

// touchSenders refreshes this node's sender sockets.
func (d db) touchSenders(ctx context.Context, conns []string, now int64) error {
	for _, c := range conns {
		if _, err := d.Exec(ctx, `UPDATE streams_senders SET seen_at = $1 WHERE conn_id = $2`, now, c); err != nil {
			return err
		}
	}
	return nil
}

// setViewers replaces node's viewer counts (stream id → viewers) with counts.
func (d db) setViewers(ctx context.Context, node string, counts map[string]int, now int64) error {
	return d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM streams_viewers WHERE node_id = $1`, node); err != nil {
			return fmt.Errorf("viewers: %w", err)
		}
		for id, n := range counts {
			// A stream that ended meanwhile has no row: nothing is stored for it.
			if _, err := tx.ExecContext(ctx, `INSERT INTO streams_viewers (node_id, stream_id, viewers, seen_at)
				SELECT CAST($1 AS TEXT), id, CAST($3 AS INTEGER), CAST($4 AS BIGINT) FROM streams_streams WHERE id = $2`, node, id, n, now); err != nil {
				return fmt.Errorf("viewers: %w", err)
			}
		}
		return nil
	})
}

// perStream runs query, whose rows are a stream id and a number, and returns them as a map.
func (d db) perStream(ctx context.Context, query string, args ...any) (map[string]int, error) {
	rows, err := d.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// expire forgets senders and viewer counts not refreshed since staleBefore (their node
// died), starts the idle time of streams left without one, and deletes the streams idle
// since before idleBefore, returning their ids.
func (d db) expire(ctx context.Context, now, staleBefore, idleBefore int64) ([]string, error) {
	var ended []string
	err := d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM streams_senders WHERE seen_at < $1`, staleBefore); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE streams_streams SET idle_since = $1
			WHERE idle_since IS NULL AND NOT EXISTS (SELECT 1 FROM streams_senders WHERE stream_id = streams_streams.id)`, now); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `DELETE FROM streams_streams WHERE idle_since IS NOT NULL AND idle_since <= $1 RETURNING id`, idleBefore)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ended = append(ended, id)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM streams_viewers WHERE seen_at < $1`, staleBefore); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM streams_claims WHERE expires_at <= $1`, now)
		if err == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM streams_tokens WHERE expires_at <= $1`, now)
		}
		return err
	})
	return ended, err
}
