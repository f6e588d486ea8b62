package chat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchboard/switchboard/internal/store"
)

// keenchat's schema (spec B2) with its holes closed: foreign keys enforced, passwords hashed
// with argon2id (a legacy SHA-256 hash is still accepted once, then replaced), tokens stored
// as hashes with an expiry, channels remember their creator (who alone may change them).
const schema = `
CREATE TABLE chat_user (
	user_id  %[1]s,
	username TEXT   NOT NULL UNIQUE,
	password TEXT   NOT NULL,
	status   INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE chat_channel (
	channel_id  %[1]s,
	title       TEXT NOT NULL,
	description TEXT NOT NULL,
	created_by  BIGINT REFERENCES chat_user (user_id) ON DELETE SET NULL
);
INSERT INTO chat_channel (channel_id, title, description) VALUES (1, 'General', 'General discussion.');
INSERT INTO chat_channel (channel_id, title, description) VALUES (2, 'Code', 'Electric sheep dreams.');
CREATE TABLE chat_message (
	message_id   %[1]s,
	channel_id   BIGINT NOT NULL REFERENCES chat_channel (channel_id) ON DELETE CASCADE,
	user_id      BIGINT NOT NULL REFERENCES chat_user (user_id) ON DELETE CASCADE,
	message_text TEXT   NOT NULL,
	time         BIGINT NOT NULL
);
CREATE INDEX chat_message_channel ON chat_message (channel_id, message_id);
CREATE INDEX chat_message_user ON chat_message (user_id, message_id);
CREATE TABLE chat_token (
	token_hash    TEXT   PRIMARY KEY, -- SHA-256 of the token; the token itself is shown once
	user_id       BIGINT NOT NULL REFERENCES chat_user (user_id) ON DELETE CASCADE,
	creation_time BIGINT NOT NULL,
	expires_at    BIGINT NOT NULL,
	ip_address    TEXT   NOT NULL
);
CREATE INDEX chat_token_expires ON chat_token (expires_at);
`

var migrations = []store.Migration{{
	Version: 1,
	SQL:     fmt.Sprintf(schema, "INTEGER PRIMARY KEY AUTOINCREMENT"),
	// The seeded ids do not move PostgreSQL's sequence: start it after them.
	Postgres: fmt.Sprintf(schema, "BIGSERIAL PRIMARY KEY") +
		`SELECT setval(pg_get_serial_sequence('chat_channel', 'channel_id'), 2);`,
}}

var (
	errNotFound = errors.New("not found")
	errTaken    = errors.New("username taken")
)

type db struct{ *store.DB }

// User is a user as the API shows it (never its password).
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

// Channel is a channel as the API shows it.
type Channel struct {
	ID          int64  `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	createdBy   int64
}

// Message is a message as GET /message shows it (spec B5: read path).
type Message struct {
	ID        int64  `json:"id"`
	UserID    int64  `json:"user_id"`
	ChannelID int64  `json:"channel_id"`
	Text      string `json:"message_text"`
	Time      int64  `json:"time"`
}

func (d db) createUser(ctx context.Context, name, hash string) (int64, error) {
	var id int64
	err := d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM chat_user WHERE username = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("check username: %w", err)
		}
		if n > 0 {
			return errTaken
		}
		return tx.QueryRowContext(ctx, `INSERT INTO chat_user (username, password) VALUES ($1, $2) RETURNING user_id`, name, hash).Scan(&id)
	})
	return id, err
}

// credentials returns a user's id and password hash.
func (d db) credentials(ctx context.Context, name string) (int64, string, error) {
	var id int64
	var hash string
	err := d.QueryRow(ctx, `SELECT user_id, password FROM chat_user WHERE username = $1`, name).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", errNotFound
	}
	return id, hash, err
}

func (d db) setPassword(ctx context.Context, id int64, hash string) error {
	_, err := d.Exec(ctx, `UPDATE chat_user SET password = $1 WHERE user_id = $2`, hash, id)
	return err
}

// where builds "WHERE a = $1 AND b = $2" from the filters that are set.
type where struct {
	conds []string
	args  []any
}

func (w *where) eq(col string, v *int64) {
	if v != nil {
		w.args = append(w.args, *v)
		w.conds = append(w.conds, col+" = $"+strconv.Itoa(len(w.args)))
	}
}

func (w *where) add(cond string, v any) {
	w.args = append(w.args, v)
	w.conds = append(w.conds, strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1))
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func (d db) users(ctx context.Context, id *int64, username *string) ([]User, error) {
	var w where
	w.eq("user_id", id)
	if username != nil {
		w.add("username = ?", *username)
	}
	rows, err := d.Query(ctx, `SELECT user_id, username FROM chat_user`+w.String()+` ORDER BY user_id`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Username); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// usernames maps ids to their users' names, for the ids that have one.
func (d db) usernames(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	marks := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		marks[i], args[i] = "$"+strconv.Itoa(i+1), id
	}
	rows, err := d.Query(ctx, `SELECT user_id, username FROM chat_user WHERE user_id IN (`+strings.Join(marks, ",")+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("usernames: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("usernames: %w", err)
		}
		out[id] = name
	}
	return out, rows.Err()
}

func (d db) userCount(ctx context.Context) (int64, error) {
	var n int64
	if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM chat_user`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

func (d db) createToken(ctx context.Context, hash string, user, now, expires int64, ip string) error {
	_, err := d.Exec(ctx, `INSERT INTO chat_token (token_hash, user_id, creation_time, expires_at, ip_address) VALUES ($1, $2, $3, $4, $5)`,
		hash, user, now, expires, ip)
	return err
}

// tokenUser returns the user of a live token.
func (d db) tokenUser(ctx context.Context, hash string, now int64) (int64, error) {
	var id int64
	err := d.QueryRow(ctx, `SELECT user_id FROM chat_token WHERE token_hash = $1 AND expires_at > $2`, hash, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errNotFound
	}
	return id, err
}

func (d db) deleteToken(ctx context.Context, hash string) (bool, error) {
	res, err := d.Exec(ctx, `DELETE FROM chat_token WHERE token_hash = $1`, hash)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func (d db) deleteExpiredTokens(ctx context.Context, now int64) (int64, error) {
	res, err := d.Exec(ctx, `DELETE FROM chat_token WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (d db) channels(ctx context.Context, id *int64) ([]Channel, error) {
	var w where
	w.eq("channel_id", id)
	rows, err := d.Query(ctx, `SELECT channel_id, title, description, COALESCE(created_by, 0) FROM chat_channel`+w.String()+` ORDER BY channel_id`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	defer rows.Close()
	out := []Channel{}
	for rows.Next() {
		var c Channel
		if err := rows.Scan(&c.ID, &c.Title, &c.Description, &c.createdBy); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (d db) channel(ctx context.Context, id int64) (Channel, error) {
	cs, err := d.channels(ctx, &id)
	if err != nil {
		return Channel{}, err
	}
	if len(cs) == 0 {
		return Channel{}, errNotFound
	}
	return cs[0], nil
}

func (d db) createChannel(ctx context.Context, title, desc string, by int64) (int64, error) {
	var id int64
	err := d.Write().QueryRowContext(ctx, `INSERT INTO chat_channel (title, description, created_by) VALUES ($1, $2, $3) RETURNING channel_id`,
		title, desc, by).Scan(&id)
	return id, err
}

func (d db) updateChannel(ctx context.Context, c Channel) error {
	_, err := d.Exec(ctx, `UPDATE chat_channel SET title = $1, description = $2 WHERE channel_id = $3`, c.Title, c.Description, c.ID)
	return err
}

func (d db) deleteChannel(ctx context.Context, id int64) error {
	_, err := d.Exec(ctx, `DELETE FROM chat_channel WHERE channel_id = $1`, id)
	return err
}

// messageQuery filters GET /message: exact matches, and a page of at most limit messages
// before a message id, oldest first.
type messageQuery struct {
	ID, UserID, ChannelID, Time, Before *int64
	Limit                               int // 0: every match
}

func (d db) messages(ctx context.Context, q messageQuery) ([]Message, error) {
	out := []Message{}
	err := d.eachMessage(ctx, q, func(m Message) error { out = append(out, m); return nil })
	return out, err
}

// eachMessage calls fn for each message q matches, oldest first: with a limit, the newest
// Limit of them.
func (d db) eachMessage(ctx context.Context, q messageQuery, fn func(Message) error) error {
	var w where
	w.eq("message_id", q.ID)
	w.eq("user_id", q.UserID)
	w.eq("channel_id", q.ChannelID)
	w.eq("time", q.Time)
	if q.Before != nil {
		w.add("message_id < ?", *q.Before)
	}
	query := `SELECT message_id, user_id, channel_id, message_text, time FROM chat_message` + w.String() + ` ORDER BY message_id`
	if q.Limit > 0 {
		w.args = append(w.args, q.Limit)
		// The newest page, returned oldest first as keenchat listed them.
		query = `SELECT * FROM (SELECT message_id, user_id, channel_id, message_text, time FROM chat_message` + w.String() +
			` ORDER BY message_id DESC LIMIT $` + strconv.Itoa(len(w.args)) + `) page ORDER BY message_id`
	}
	rows, err := d.Query(ctx, query, w.args...)
	if err != nil {
		return fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.ID, &m.UserID, &m.ChannelID, &m.Text, &m.Time); err != nil {
			return fmt.Errorf("list messages: %w", err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list messages: %w", err)
	}
	return nil
}

func (d db) createMessage(ctx context.Context, m *Message) error {
	return d.Write().QueryRowContext(ctx, `INSERT INTO chat_message (channel_id, user_id, message_text, time) VALUES ($1, $2, $3, $4) RETURNING message_id`,
		m.ChannelID, m.UserID, m.Text, m.Time).Scan(&m.ID)
}
