package counter

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/switchboard/switchboard/internal/store"
)

// frust kept its counters in process memory and wrote the running hour only when it ended,
// so a crash lost it (spec B5, B9.5). Here every click and event is one transaction that
// stores the row and bumps the totals and the hour's row, so the counters are exact under
// concurrent clicks from any node and survive any stop. Tables follow frust's schema (B6).
const schema = `
CREATE TABLE counter_clicks (
	id        %[1]s,
	user_name TEXT   NOT NULL,
	comment   TEXT,
	style     TEXT,
	ts        BIGINT NOT NULL -- Unix seconds
);
CREATE INDEX counter_clicks_ts ON counter_clicks (ts);
CREATE TABLE counter_events (
	id        %[1]s,
	user_name TEXT   NOT NULL,
	name      TEXT   NOT NULL,
	ts        BIGINT NOT NULL
);
CREATE INDEX counter_events_ts ON counter_events (ts);
CREATE TABLE counter_users (
	id     %[1]s, -- keeps frust's insertion order
	name   TEXT   NOT NULL UNIQUE,
	clicks BIGINT NOT NULL DEFAULT 0,
	events BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE counter_hours (
	ts           BIGINT PRIMARY KEY, -- start of the hour, Unix seconds, UTC
	clicks       BIGINT NOT NULL,
	events       BIGINT NOT NULL,
	clicks_total BIGINT NOT NULL,    -- totals at the end of the hour (so far, for the running one)
	events_total BIGINT NOT NULL
);
CREATE TABLE counter_totals (id INTEGER PRIMARY KEY, clicks BIGINT NOT NULL, events BIGINT NOT NULL);
INSERT INTO counter_totals (id, clicks, events) VALUES (1, 0, 0);
`

var migrations = []store.Migration{{
	Version:  1,
	SQL:      fmt.Sprintf(schema, "INTEGER PRIMARY KEY AUTOINCREMENT"),
	Postgres: fmt.Sprintf(schema, "BIGSERIAL PRIMARY KEY"),
}}

type db struct{ *store.DB }

// hourOf and dayOf are frust's UTC boundaries, in seconds.
func hourOf(t int64) int64 { return t - t%3600 }
func dayOf(t int64) int64  { return t - t%86400 }

// Click is a click as the API shows it.
type Click struct {
	User      string  `json:"user"`
	Comment   *string `json:"comment"`
	Style     *string `json:"style"`
	Timestamp int64   `json:"timestamp"`
}

// Event is an event as the API shows it.
type Event struct {
	User      string `json:"user"`
	Name      string `json:"name"`
	Timestamp int64  `json:"timestamp"`
}

// Stats is frust's Stats object, in its key order.
type Stats struct {
	ClickTotal int64 `json:"click_count_total"`
	ClickToday int64 `json:"click_count_today"`
	ClickHour  int64 `json:"click_count_hour"`
	EventTotal int64 `json:"event_count_total"`
	EventToday int64 `json:"event_count_today"`
	EventHour  int64 `json:"event_count_hour"`
}

// Hour is one row of latest_hours.
type Hour struct {
	Timestamp  int64 `json:"timestamp"`
	Clicks     int64 `json:"click_count"`
	Events     int64 `json:"event_count"`
	ClickTotal int64 `json:"click_count_total"`
	EventTotal int64 `json:"event_count_total"`
}

// User is one row of /api/users.
type User struct {
	Name   string `json:"name"`
	Clicks int64  `json:"click_count"`
	Events int64  `json:"event_count"`
}

// The statements a batch runs (storeBatch), prepared once at start (store.DB.Prepare).
const (
	qTotals = `UPDATE counter_totals SET clicks = clicks + $1, events = events + $2 WHERE id = 1 RETURNING clicks, events`
	qHour   = `INSERT INTO counter_hours (ts, clicks, events, clicks_total, events_total) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (ts) DO UPDATE SET clicks = counter_hours.clicks + excluded.clicks, events = counter_hours.events + excluded.events,
		clicks_total = excluded.clicks_total, events_total = excluded.events_total`
	qClick = `INSERT INTO counter_clicks (user_name, comment, style, ts) VALUES ($1, $2, $3, $4)`
	qEvent = `INSERT INTO counter_events (user_name, name, ts) VALUES ($1, $2, $3)`
	qUser  = `INSERT INTO counter_users (name, clicks, events) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET clicks = counter_users.clicks + excluded.clicks, events = counter_users.events + excluded.events`
)

// batchStatements are the statements prepared at start.
var batchStatements = []string{qTotals, qHour, qClick, qEvent, qUser}

// count adds clicks and events to the totals and to the hour of now, in tx.
func (d db) count(ctx context.Context, tx *sql.Tx, clicks, events, now int64) error {
	var ct, et int64
	totals, err := d.TxStmt(ctx, tx, qTotals)
	if err != nil {
		return err
	}
	if err := totals.QueryRowContext(ctx, clicks, events).Scan(&ct, &et); err != nil {
		return fmt.Errorf("totals: %w", err)
	}
	err = d.exec(ctx, tx, qHour, hourOf(now), clicks, events, ct, et)
	if err != nil {
		return fmt.Errorf("hour: %w", err)
	}
	return nil
}

// record is one click or event to store.
type record struct {
	click  *Click
	event  *Event
	stored bool // events only: keep the row and credit the user (frust did not for two)
	// synced, on a record of neither, is closed once everything queued before it is
	// committed (committer.sync).
	synced chan struct{}
}

// exec runs one of the code's statements in tx, prepared once (store.DB.TxStmt).
func (d db) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	s, err := d.TxStmt(ctx, tx, query)
	if err != nil {
		return err
	}
	_, err = s.ExecContext(ctx, args...)
	return err
}

// counts reports whether r is a click or event (not a sync point).
func (r record) counts() bool { return r.click != nil || r.event != nil }

// tally is what a batch adds to one hour's or one user's counts.
type tally struct{ clicks, events int64 }

// storeBatch stores a batch in tx: each click and each stored event its row, and the counts
// once per batch instead of once per record (four statements per click became about two).
// The totals and each hour's row grow by the batch's sums, hour by hour in the order the hours
// first appear, and each user's credit by theirs; the rows read as if the records had been
// stored one by one. The totals are updated first, as before, so concurrent commits (on
// PostgreSQL, from several nodes) queue on that row instead of deadlocking on users' rows.
func (d db) storeBatch(ctx context.Context, tx *sql.Tx, batch []record) error {
	var hours []int64
	perHour := map[int64]*tally{}
	var names []string
	perUser := map[string]*tally{}
	add := func(ts int64, user string, credit bool, t tally) {
		h := hourOf(ts)
		if perHour[h] == nil {
			perHour[h] = &tally{}
			hours = append(hours, h)
		}
		perHour[h].clicks += t.clicks
		perHour[h].events += t.events
		if !credit {
			return
		}
		if perUser[user] == nil {
			perUser[user] = &tally{}
			names = append(names, user)
		}
		perUser[user].clicks += t.clicks
		perUser[user].events += t.events
	}
	for _, r := range batch {
		switch {
		case r.click != nil:
			add(r.click.Timestamp, r.click.User, true, tally{clicks: 1})
		case r.event != nil:
			add(r.event.Timestamp, r.event.User, r.stored, tally{events: 1})
		}
	}
	for _, h := range hours {
		if err := d.count(ctx, tx, perHour[h].clicks, perHour[h].events, h); err != nil {
			return err
		}
	}
	for _, r := range batch {
		if c := r.click; c != nil {
			if err := d.exec(ctx, tx, qClick,
				c.User, c.Comment, c.Style, c.Timestamp); err != nil {
				return fmt.Errorf("click: %w", err)
			}
		} else if e := r.event; e != nil && r.stored {
			if err := d.exec(ctx, tx, qEvent, e.User, e.Name, e.Timestamp); err != nil {
				return fmt.Errorf("event: %w", err)
			}
		}
	}
	for _, name := range names {
		t := perUser[name]
		if err := d.exec(ctx, tx, qUser,
			name, t.clicks, t.events); err != nil {
			return fmt.Errorf("user: %w", err)
		}
	}
	return nil
}

// addClick stores a click and counts it.
func (d db) addClick(ctx context.Context, c Click) error {
	return d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error { return d.storeBatch(ctx, tx, []record{{click: &c}}) })
}

// addEvent counts an event; a stored one is also kept and credited to its user.
func (d db) addEvent(ctx context.Context, e Event, stored bool) error {
	return d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return d.storeBatch(ctx, tx, []record{{event: &e, stored: stored}})
	})
}

// startHour makes sure the hour of now has a row, so latest_hours lists every hour a node
// ran, as frust's did, even one without clicks.
func (d db) startHour(ctx context.Context, now int64) error {
	_, err := d.Exec(ctx, `INSERT INTO counter_hours (ts, clicks, events, clicks_total, events_total)
		SELECT $1, 0, 0, clicks, events FROM counter_totals WHERE id = 1 ON CONFLICT (ts) DO NOTHING`, hourOf(now))
	return err
}

// stats reads the counters at now, in one statement so they agree with each other.
func (d db) stats(ctx context.Context, now int64) (Stats, error) {
	var s Stats
	err := d.QueryRow(ctx, `SELECT t.clicks, t.events,
		COALESCE((SELECT SUM(clicks) FROM counter_hours WHERE ts >= $1), 0), COALESCE((SELECT SUM(events) FROM counter_hours WHERE ts >= $1), 0),
		COALESCE((SELECT clicks FROM counter_hours WHERE ts = $2), 0), COALESCE((SELECT events FROM counter_hours WHERE ts = $2), 0)
		FROM counter_totals t WHERE t.id = 1`, dayOf(now), hourOf(now)).
		Scan(&s.ClickTotal, &s.EventTotal, &s.ClickToday, &s.EventToday, &s.ClickHour, &s.EventHour)
	return s, err
}

// hours lists the finished hours since from, oldest first (the running hour is left out).
func (d db) hours(ctx context.Context, from, now int64) ([]Hour, error) {
	rows, err := d.Query(ctx, `SELECT ts, clicks, events, clicks_total, events_total FROM counter_hours
		WHERE ts >= $1 AND ts <> $2 ORDER BY ts`, from, hourOf(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Hour{}
	for rows.Next() {
		var h Hour
		if err := rows.Scan(&h.Timestamp, &h.Clicks, &h.Events, &h.ClickTotal, &h.EventTotal); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func (d db) clicksSince(ctx context.Context, from int64, limit int) ([]Click, error) {
	rows, err := d.Query(ctx, `SELECT user_name, comment, style, ts FROM counter_clicks WHERE ts >= $1 ORDER BY id DESC LIMIT $2`, from, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Click{}
	for rows.Next() {
		var c Click
		var comment, style sql.NullString
		if err := rows.Scan(&c.User, &comment, &style, &c.Timestamp); err != nil {
			return nil, err
		}
		if comment.Valid {
			c.Comment = &comment.String
		}
		if style.Valid {
			c.Style = &style.String
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (d db) eventsSince(ctx context.Context, from int64, limit int) ([]Event, error) {
	rows, err := d.Query(ctx, `SELECT user_name, name, ts FROM counter_events WHERE ts >= $1 ORDER BY id DESC LIMIT $2`, from, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.User, &e.Name, &e.Timestamp); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (d db) users(ctx context.Context) ([]User, error) {
	rows, err := d.Query(ctx, `SELECT name, clicks, events FROM counter_users ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.Name, &u.Clicks, &u.Events); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
