package signal

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/store"
)

// Generations of rondevu's API. Every generation keeps its offers in one table; gen keeps
// them apart (a G2 client never sees a G4 offer).
const (
	gen1 = 1 // topic/session API; a "session" is an offer whose id is its code
	gen2 = 2 // register + peerId/secret API
	gen4 = 4 // signed RPC API
)

// schema is written once for both engines; autoincrement is the only difference.
const schema = `
CREATE TABLE signal_offers (
	gen          INTEGER NOT NULL,
	id           TEXT    NOT NULL,
	scope        TEXT    NOT NULL DEFAULT '', -- G1: the Origin bucket
	owner        TEXT    NOT NULL,            -- peer id (G1, G2) or public key (G4)
	sdp          TEXT    NOT NULL,
	tags         TEXT    NOT NULL,            -- JSON array: G2 topics, G4 tags, G1 [topic]
	secret_hash  TEXT,                        -- G2 offer secret, argon2id
	info         TEXT,                        -- G2 info
	created_at   BIGINT  NOT NULL,
	expires_at   BIGINT  NOT NULL,
	last_seen    BIGINT  NOT NULL,
	answerer     TEXT,
	answer_sdp   TEXT,
	answered_at  BIGINT,
	matched_tags TEXT,                        -- G4: JSON array or NULL
	PRIMARY KEY (gen, id)
);
CREATE INDEX signal_offers_owner ON signal_offers (gen, owner);
CREATE INDEX signal_offers_answerer ON signal_offers (gen, answerer);
CREATE INDEX signal_offers_expires ON signal_offers (expires_at);
CREATE TABLE signal_offer_tags (
	gen      INTEGER NOT NULL,
	offer_id TEXT    NOT NULL,
	tag      TEXT    NOT NULL,
	PRIMARY KEY (gen, tag, offer_id),
	FOREIGN KEY (gen, offer_id) REFERENCES signal_offers (gen, id) ON DELETE CASCADE
);
CREATE INDEX signal_offer_tags_offer ON signal_offer_tags (gen, offer_id);
CREATE TABLE signal_candidates (
	id         %s,
	gen        INTEGER NOT NULL,
	offer_id   TEXT    NOT NULL,
	sender     TEXT    NOT NULL,
	role       TEXT    NOT NULL CHECK (role IN ('offerer', 'answerer')),
	candidate  TEXT    NOT NULL, -- JSON, as posted
	created_at BIGINT  NOT NULL,
	FOREIGN KEY (gen, offer_id) REFERENCES signal_offers (gen, id) ON DELETE CASCADE
);
CREATE INDEX signal_candidates_offer ON signal_candidates (gen, offer_id, created_at);
CREATE TABLE signal_nonces (nonce_key TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
CREATE INDEX signal_nonces_expires ON signal_nonces (expires_at);
CREATE TABLE signal_keys (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- One row: the last timestamp handed out to an answer or candidate (see nextTimes).
CREATE TABLE signal_clock (id INTEGER PRIMARY KEY, t BIGINT NOT NULL);
INSERT INTO signal_clock (id, t) VALUES (1, 0);
`

// peersSchema holds G2 registrations: which credential (its IV) an id was last issued with,
// and until when the id is held against a new registration of the same id.
const peersSchema = `
CREATE TABLE signal_peers (id TEXT PRIMARY KEY, iv TEXT NOT NULL, expires_at BIGINT NOT NULL);
CREATE INDEX signal_peers_expires ON signal_peers (expires_at);
`

var migrations = []store.Migration{{
	Version:  1,
	SQL:      fmt.Sprintf(schema, "INTEGER PRIMARY KEY AUTOINCREMENT"),
	Postgres: fmt.Sprintf(schema, "BIGSERIAL PRIMARY KEY"),
}, {
	Version: 2,
	SQL:     peersSchema,
}, {
	// A topic prefix search reads a range of tags in byte order. SQLite's primary key index
	// (gen, tag, offer_id) has that order; on PostgreSQL the database's collation may not,
	// so the range reads this index.
	Version:  3,
	SQL:      `SELECT 1`,
	Postgres: `CREATE INDEX signal_offer_tags_bytes ON signal_offer_tags (gen, tag COLLATE "C")`,
}}

// Errors of the store; each generation words them its own way.
var (
	errNotFound        = errors.New("offer not found")
	errAlreadyAnswered = errors.New("offer already answered")
	errExists          = errors.New("id already in use")
)

// limitError is a breached count limit.
type limitError struct {
	what        string // "peer", "total", "candidates"
	have, limit int
}

func (e *limitError) Error() string {
	return fmt.Sprintf("%s limit: have %d, limit %d", e.what, e.have, e.limit)
}

// offer is one row of signal_offers.
type offer struct {
	Gen         int
	ID          string
	Scope       string
	Owner       string
	SDP         string
	Tags        []string
	SecretHash  string
	Info        *string
	CreatedAt   int64
	ExpiresAt   int64
	LastSeen    int64
	Answerer    string
	AnswerSDP   string
	AnsweredAt  int64
	MatchedTags []string // nil: none stored
	Answered    bool
}

// candidate is one row of signal_candidates.
type candidate struct {
	ID        int64
	OfferID   string
	Sender    string
	Role      string
	Candidate json.RawMessage
	CreatedAt int64
}

// db is the signaling store.
type db struct {
	*store.DB
	// writes counts the commits that changed offers on this node (changed), for the G2
	// discovery cache (topics); nil counts nothing.
	writes *atomic.Uint64
	// heads caches offers' heads where no other node writes the store (heads.go); nil: none.
	heads *headCache
}

// dropHead forgets an offer's cached head, after a change to it has committed.
func (d db) dropHead(gen int, id string) {
	if d.heads != nil {
		d.heads.drop(gen, id)
	}
}

// dropHeads forgets every cached head.
func (d db) dropHeads() {
	if d.heads != nil {
		d.heads.dropAll()
	}
}

// changed records a write to the offers, after its commit: a listing read since the counter
// was last read is stale.
func (d db) changed() {
	if d.writes != nil {
		d.writes.Add(1)
	}
}

// The statements of an exchange's writes and of a G4 call's nonce, prepared once at start
// (hotWrites): modernc's SQLite otherwise parses and plans each on every call, an eighth of
// an exchange's CPU.
const (
	sqlCountMine   = `SELECT COUNT(*) FROM signal_offers WHERE gen = $1 AND owner = $2 AND expires_at > $3`
	sqlInsertOffer = `INSERT INTO signal_offers
		(gen, id, scope, owner, sdp, tags, secret_hash, info, created_at, expires_at, last_seen)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
	sqlInsertTag       = `INSERT INTO signal_offer_tags (gen, offer_id, tag) VALUES ($1, $2, $3)`
	sqlCountCandidates = `SELECT COUNT(*) FROM signal_candidates WHERE gen = $1 AND offer_id = $2 AND role = $3`
	sqlInsertCandidate = `INSERT INTO signal_candidates (gen, offer_id, sender, role, candidate, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`
	sqlNextTimes = `UPDATE signal_clock SET t = CASE WHEN t + $1 > $2 THEN t + $1 ELSE $2 END
		WHERE id = 1 RETURNING t`
	// sqlAnswer is every generation's answer: $5 > 0 replaces the expiry (G4), $10 overwrites an
	// earlier answer (G1). One statement, so it is prepared once, not parsed on every answer.
	sqlAnswer = `UPDATE signal_offers SET answerer = $1, answer_sdp = $2, answered_at = $3, matched_tags = $4,
		expires_at = CASE WHEN CAST($5 AS BIGINT) > 0 THEN CAST($5 AS BIGINT) ELSE expires_at END
		WHERE gen = $6 AND id = $7 AND scope = $8 AND expires_at > $9 AND ($10 OR answered_at IS NULL)`
	sqlDeleteOffer = `DELETE FROM signal_offers WHERE gen = $1 AND id = $2 AND owner = $3`
	sqlTouch       = `UPDATE signal_offers SET last_seen = $1 WHERE gen = $2 AND id = $3`
	sqlUseNonce    = `INSERT INTO signal_nonces (nonce_key, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`
)

var hotWrites = []string{sqlCountMine, sqlInsertOffer, sqlInsertTag, sqlCountCandidates, sqlInsertCandidate, sqlNextTimes, sqlAnswer, sqlDeleteOffer, sqlTouch, sqlUseNonce}

// txExec runs query in tx through its prepared statement.
func (d db) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := d.TxStmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// txQueryRow is txExec for a statement that returns one row; an error shows at Scan.
func (d db) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	st, err := d.TxStmt(ctx, tx, query)
	if err != nil {
		return tx.QueryRowContext(ctx, query, args...) // reports the same error at Scan
	}
	return st.QueryRowContext(ctx, args...)
}

// newID returns 256 random bits as lowercase hex: the shape of rondevu's SHA-256 offer ids,
// without their determinism (the same SDP twice was a primary-key conflict there).
func newID() string { return auth.RandomHex(32) }

// q builds a statement with numbered placeholders, which both engines accept.
type q struct {
	sb   strings.Builder
	args []any
}

func (b *q) sql(s string) *q { b.sb.WriteString(s); return b }

// arg appends a placeholder for v.
func (b *q) arg(v any) *q {
	b.args = append(b.args, v)
	b.sb.WriteString("$" + strconv.Itoa(len(b.args)))
	return b
}

// in appends "(…)" with one placeholder per value.
func (b *q) in(vs []string) *q {
	b.sb.WriteByte('(')
	for i, v := range vs {
		if i > 0 {
			b.sb.WriteByte(',')
		}
		b.arg(v)
	}
	b.sb.WriteByte(')')
	return b
}

func (b *q) String() string { return b.sb.String() }

func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func nullJSONList(v []string) any {
	if v == nil {
		return nil
	}
	return jsonList(v)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// newOffer is what a client asks to store.
type newOffer struct {
	ID         string // "" → random
	Scope      string
	SDP        string
	Tags       []string // distinct
	SecretHash string
	Info       *string
	ExpiresAt  int64
}

// quota bounds how many live offers may exist. live is the caller's recent count of all live
// offers of the generation (see Service.liveOffers), or -1 to count them here: that count
// reads every live offer, which must not happen on every publish.
type quota struct{ perOwner, total, live int }

// createOffers stores offers of owner in one transaction, after checking the quota against
// live offers (expired rows awaiting cleanup do not count). It fills in the ids.
func (d db) createOffers(ctx context.Context, gen int, owner string, offers []newOffer, lim quota, now int64) error {
	defer d.changed()
	return d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if lim.perOwner > 0 {
			var mine int
			err := d.txQueryRow(ctx, tx, sqlCountMine, gen, owner, now).Scan(&mine)
			if err != nil {
				return fmt.Errorf("count offers: %w", err)
			}
			if mine+len(offers) > lim.perOwner {
				return &limitError{"peer", mine, lim.perOwner}
			}
		}
		if lim.total > 0 {
			all := lim.live
			if all < 0 {
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM signal_offers WHERE gen = $1 AND expires_at > $2`, gen, now).Scan(&all); err != nil {
					return fmt.Errorf("count offers: %w", err)
				}
			}
			if all+len(offers) > lim.total {
				return &limitError{"total", all, lim.total}
			}
		}
		for i := range offers {
			o := &offers[i]
			if o.ID == "" {
				o.ID = newID()
			} else {
				// Client-chosen ids (G1 codes): an expired holder gives way; a live one is a 409.
				if _, err := tx.ExecContext(ctx, `DELETE FROM signal_offers WHERE gen = $1 AND id = $2 AND expires_at <= $3`, gen, o.ID, now); err != nil {
					return fmt.Errorf("reclaim id: %w", err)
				}
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM signal_offers WHERE gen = $1 AND id = $2`, gen, o.ID).Scan(&n); err != nil {
					return fmt.Errorf("check id: %w", err)
				}
				if n > 0 {
					return errExists
				}
			}
			_, err := d.txExec(ctx, tx, sqlInsertOffer,
				gen, o.ID, o.Scope, owner, o.SDP, jsonList(o.Tags), nullString(o.SecretHash), o.Info, now, o.ExpiresAt, now)
			if err != nil {
				return fmt.Errorf("insert offer: %w", err)
			}
			for _, t := range o.Tags {
				if _, err := d.txExec(ctx, tx, sqlInsertTag, gen, o.ID, t); err != nil {
					return fmt.Errorf("insert tag: %w", err)
				}
			}
		}
		return nil
	})
}

const offerColumns = `o.gen, o.id, o.scope, o.owner, o.sdp, o.tags, o.secret_hash, o.info, o.created_at, o.expires_at,
	o.last_seen, o.answerer, o.answer_sdp, o.answered_at, o.matched_tags`

func scanOffer(rows interface{ Scan(...any) error }) (*offer, error) {
	var o offer
	var tags string
	var secret, answerer, answerSDP, matched sql.NullString
	var info sql.NullString
	var answeredAt sql.NullInt64
	err := rows.Scan(&o.Gen, &o.ID, &o.Scope, &o.Owner, &o.SDP, &tags, &secret, &info, &o.CreatedAt, &o.ExpiresAt,
		&o.LastSeen, &answerer, &answerSDP, &answeredAt, &matched)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &o.Tags); err != nil {
		return nil, fmt.Errorf("offer %s tags: %w", o.ID, err)
	}
	if matched.Valid {
		if err := json.Unmarshal([]byte(matched.String), &o.MatchedTags); err != nil {
			return nil, fmt.Errorf("offer %s matched tags: %w", o.ID, err)
		}
		if o.MatchedTags == nil {
			o.MatchedTags = []string{}
		}
	}
	if info.Valid {
		o.Info = &info.String
	}
	o.SecretHash, o.Answerer, o.AnswerSDP = secret.String, answerer.String, answerSDP.String
	o.Answered, o.AnsweredAt = answeredAt.Valid, answeredAt.Int64
	return &o, nil
}

func (d db) queryOffers(ctx context.Context, b *q) ([]*offer, error) {
	rows, err := d.Query(ctx, b.String(), b.args...)
	if err != nil {
		return nil, fmt.Errorf("query offers: %w", err)
	}
	defer rows.Close()
	var out []*offer
	for rows.Next() {
		o, err := scanOffer(rows)
		if err != nil {
			return nil, fmt.Errorf("read offer: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// getOffer returns a live offer, or errNotFound.
func (d db) getOffer(ctx context.Context, gen int, id string, now int64) (*offer, error) {
	b := (&q{}).sql("SELECT " + offerColumns + " FROM signal_offers o WHERE o.gen = ").arg(gen).
		sql(" AND o.id = ").arg(id).sql(" AND o.expires_at > ").arg(now)
	os, err := d.queryOffers(ctx, b)
	if err != nil {
		return nil, err
	}
	if len(os) == 0 {
		return nil, errNotFound
	}
	return os[0], nil
}

// sqlOfferHead loads what deciding on an offer takes (its parties, secret and topics), not its
// SDPs: G2's answer and candidate calls read it on every request, and copying two SDPs of
// 1–5 KB out of SQLite for nothing was most of that read.
const sqlOfferHead = `SELECT o.owner, o.tags, o.secret_hash, o.answerer, o.answered_at, o.expires_at FROM signal_offers o
	WHERE o.gen = $1 AND o.id = $2 AND o.expires_at > $3`

// getOfferHead returns a live offer's ID, Owner, Tags, SecretHash, Answerer, Answered,
// AnsweredAt and ExpiresAt, or errNotFound; the rest of the offer is left empty. Callers do
// not change what it returns (its Tags may be the cache's).
func (d db) getOfferHead(ctx context.Context, gen int, id string, now int64) (*offer, error) {
	if d.heads == nil {
		return d.readOfferHead(ctx, gen, id, now)
	}
	if o, ok := d.heads.get(gen, id, now); ok {
		return o, nil
	}
	seen := d.heads.begin()
	o, err := d.readOfferHead(ctx, gen, id, now)
	if err == nil {
		d.heads.put(o, seen)
	}
	return o, err
}

// readOfferHead is getOfferHead from the store.
func (d db) readOfferHead(ctx context.Context, gen int, id string, now int64) (*offer, error) {
	o := offer{Gen: gen, ID: id}
	var tags string
	var secret, answerer sql.NullString
	var answeredAt sql.NullInt64
	err := d.QueryRow(ctx, sqlOfferHead, gen, id, now).Scan(&o.Owner, &tags, &secret, &answerer, &answeredAt, &o.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("query offer %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(tags), &o.Tags); err != nil {
		return nil, fmt.Errorf("offer %s tags: %w", id, err)
	}
	o.SecretHash, o.Answerer = secret.String, answerer.String
	o.Answered, o.AnsweredAt = answeredAt.Valid, answeredAt.Int64
	return &o, nil
}

// filter selects live offers of one generation.
type filter struct {
	Gen          int
	Now          int64
	AnyTags      []string // carrying at least one of these
	Owner        string   // owned by
	NotOwner     string   // not owned by
	Scope        *string
	Available    bool // unanswered only
	AnsweredOnly bool
	IDs          []string
}

func (f filter) where(b *q) *q { return f.conds(b.sql(" FROM signal_offers o")) }

// conds writes " WHERE …" over the offers aliased o.
func (f filter) conds(b *q) *q {
	b.sql(" WHERE o.gen = ").arg(f.Gen).sql(" AND o.expires_at > ").arg(f.Now)
	if len(f.AnyTags) > 0 {
		// Driven from the tag index (gen, tag, offer_id): the cost follows the offers with
		// these tags, not every live offer (a correlated EXISTS made both engines probe the
		// tags once per live offer).
		b.sql(" AND o.id IN (SELECT t.offer_id FROM signal_offer_tags t WHERE t.gen = ").arg(f.Gen).
			sql(" AND t.tag IN ").in(f.AnyTags).sql(")")
	}
	if f.Owner != "" {
		b.sql(" AND o.owner = ").arg(f.Owner)
	}
	if f.NotOwner != "" {
		b.sql(" AND o.owner <> ").arg(f.NotOwner)
	}
	if f.Scope != nil {
		b.sql(" AND o.scope = ").arg(*f.Scope)
	}
	if f.Available {
		b.sql(" AND o.answered_at IS NULL")
	}
	if f.AnsweredOnly {
		b.sql(" AND o.answered_at IS NOT NULL")
	}
	if len(f.IDs) > 0 {
		b.sql(" AND o.id IN ").in(f.IDs)
	}
	return b
}

// listOffers returns the offers f selects in order ("o.created_at DESC"), paged; limit < 0
// means all. order "random" picks at random.
func (d db) listOffers(ctx context.Context, f filter, order string, limit, offset int) ([]*offer, error) {
	b := f.where((&q{}).sql("SELECT " + offerColumns))
	if order == "random" {
		order = "random()"
	}
	b.sql(" ORDER BY " + order + ", o.id")
	if limit >= 0 {
		b.sql(" LIMIT ").arg(limit).sql(" OFFSET ").arg(offset)
	}
	return d.queryOffers(ctx, b)
}

// owners streams the (id, owner) of the offers f selects, newest first, so a caller can
// filter by owner in Go (the bloom filter) without loading SDPs.
func (d db) owners(ctx context.Context, f filter, fn func(id, owner string)) error {
	b := f.where((&q{}).sql("SELECT o.id, o.owner")).sql(" ORDER BY o.last_seen DESC, o.id")
	rows, err := d.Query(ctx, b.String(), b.args...)
	if err != nil {
		return fmt.Errorf("query owners: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, owner string
		if err := rows.Scan(&id, &owner); err != nil {
			return fmt.Errorf("read owner: %w", err)
		}
		fn(id, owner)
	}
	return rows.Err()
}

// countOffers counts the offers f selects; distinctOwners counts their owners instead.
func (d db) countOffers(ctx context.Context, f filter, distinctOwners bool) (int, error) {
	what := "COUNT(*)"
	if distinctOwners {
		what = "COUNT(DISTINCT o.owner)"
	}
	b := f.where((&q{}).sql("SELECT " + what))
	var n int
	if err := d.QueryRow(ctx, b.String(), b.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count offers: %w", err)
	}
	return n, nil
}

// tagCount is one row of a topic listing.
type tagCount struct {
	Tag   string
	Count int
}

// tagCounts groups the offers f selects by tag. byPeers counts distinct owners and orders by
// that count (G2 /topics); otherwise offers are counted and tags ordered by name (G1).
func (d db) tagCounts(ctx context.Context, f filter, prefix string, byPeers bool, limit, offset int) ([]tagCount, int, error) {
	count, order := "COUNT(*)", "t.tag ASC"
	if byPeers {
		count, order = "COUNT(DISTINCT o.owner)", "n DESC, t.tag ASC"
	}
	b := f.conds((&q{}).sql("SELECT t.tag, " + count + " AS n FROM signal_offer_tags t JOIN signal_offers o ON o.gen = t.gen AND o.id = t.offer_id"))
	if prefix != "" {
		b.sql(` AND t.tag LIKE `).arg(likePrefix(prefix)).sql(` ESCAPE '\'`)
		// The same tags as a byte-order range, which an index can read: the cost follows
		// the matching tags, not every live offer's.
		if hi, ok := prefixEnd(prefix); ok {
			tag := "t.tag"
			if d.Dialect == store.Postgres {
				tag = `t.tag COLLATE "C"`
			}
			b.sql(" AND t.gen = ").arg(f.Gen).sql(" AND " + tag + " >= ").arg(prefix).sql(" AND " + tag + " < ").arg(hi)
		}
	}
	b.sql(" GROUP BY t.tag")
	grouped := b.String()
	var total int
	if err := d.QueryRow(ctx, "SELECT COUNT(*) FROM ("+grouped+") g", b.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count tags: %w", err)
	}
	b.sql(" ORDER BY " + order + " LIMIT ").arg(limit).sql(" OFFSET ").arg(offset)
	rows, err := d.Query(ctx, b.String(), b.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list tags: %w", err)
	}
	defer rows.Close()
	out := []tagCount{}
	for rows.Next() {
		var tc tagCount
		if err := rows.Scan(&tc.Tag, &tc.Count); err != nil {
			return nil, 0, fmt.Errorf("read tag: %w", err)
		}
		out = append(out, tc)
	}
	return out, total, rows.Err()
}

// prefixEnd is the smallest string above every string that starts with p, in byte (and so
// code point) order: p with its last character replaced by the next one. ok is false when
// there is none (p is empty, not UTF-8, or ends in U+10FFFF).
func prefixEnd(p string) (string, bool) {
	r, size := utf8.DecodeLastRuneInString(p)
	if r == utf8.RuneError || r == utf8.MaxRune {
		return "", false
	}
	next := r + 1
	if next == 0xD800 { // skip the surrogates, which UTF-8 cannot hold
		next = 0xE000
	}
	return p[:len(p)-size] + string(next), true
}

// likePrefix escapes LIKE's wildcards in a prefix (rondevu passed them through).
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

// nextTimes reserves n timestamps (ms) for answers and candidates: strictly increasing across
// the whole store and never behind now. A poller's cursor is the newest timestamp it saw; since
// a timestamp is taken inside the writing transaction and the clock row is locked until it
// commits, rows become visible in timestamp order and a cursor never skips one (rondevu's
// now+index could hand a later row a smaller time: spec A4.7). It returns the first.
func (d db) nextTimes(ctx context.Context, tx *sql.Tx, n int, now int64) (int64, error) {
	var last int64
	err := d.txQueryRow(ctx, tx, sqlNextTimes, int64(n), now+int64(n)-1).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("clock: %w", err)
	}
	return last - int64(n) + 1, nil
}

// answer records an answer to a live offer. Unless overwrite (G1), an answered offer is
// errAlreadyAnswered, decided atomically. expiresAt > 0 replaces the offer's expiry.
func (d db) answer(ctx context.Context, gen int, id, scope, answerer, sdp string, matched []string, expiresAt, now int64, overwrite bool) (int64, error) {
	defer d.changed()
	defer d.dropHead(gen, id)
	var at int64
	err := d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if at, err = d.nextTimes(ctx, tx, 1, now); err != nil {
			return err
		}
		res, err := d.txExec(ctx, tx, sqlAnswer, answerer, sdp, at, nullJSONList(matched), expiresAt, gen, id, scope, now, overwrite)
		if err != nil {
			return fmt.Errorf("answer: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var answered sql.NullInt64
		err = tx.QueryRowContext(ctx, `SELECT answered_at FROM signal_offers WHERE gen = $1 AND id = $2 AND scope = $3 AND expires_at > $4`,
			gen, id, scope, now).Scan(&answered)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("answer: %w", err)
		}
		return errAlreadyAnswered
	})
	return at, err
}

// addCandidates stores cands (JSON each) for a live offer under role, refusing more than
// perOffer per offer and role. It returns the stored rows.
func (d db) addCandidates(ctx context.Context, gen int, offerID, sender, role string, cands []json.RawMessage, perOffer int, now int64) ([]candidate, error) {
	out := make([]candidate, 0, len(cands))
	err := d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var have int
		err := d.txQueryRow(ctx, tx, sqlCountCandidates, gen, offerID, role).Scan(&have)
		if err != nil {
			return fmt.Errorf("count candidates: %w", err)
		}
		if perOffer > 0 && have+len(cands) > perOffer {
			return &limitError{"candidates", have, perOffer}
		}
		first, err := d.nextTimes(ctx, tx, len(cands), now)
		if err != nil {
			return err
		}
		for i, c := range cands {
			at := first + int64(i)
			var id int64
			err := d.txQueryRow(ctx, tx, sqlInsertCandidate, gen, offerID, sender, role, string(c), at).Scan(&id)
			if err != nil {
				return fmt.Errorf("insert candidate: %w", err)
			}
			out = append(out, candidate{ID: id, OfferID: offerID, Sender: sender, Role: role, Candidate: c, CreatedAt: at})
		}
		return nil
	})
	return out, err
}

// candidates returns the offers' candidates of role newer than since, oldest first.
func (d db) candidates(ctx context.Context, gen int, offerIDs []string, role string, since int64) ([]candidate, error) {
	if len(offerIDs) == 0 {
		return nil, nil
	}
	b := (&q{}).sql("SELECT c.id, c.offer_id, c.sender, c.role, c.candidate, c.created_at FROM signal_candidates c WHERE c.gen = ").arg(gen).
		sql(" AND c.offer_id IN ").in(offerIDs).sql(" AND c.role = ").arg(role).sql(" AND c.created_at > ").arg(since).
		sql(" ORDER BY c.created_at, c.id")
	return d.queryCandidates(ctx, b.String(), b.args...)
}

func (d db) queryCandidates(ctx context.Context, query string, args ...any) ([]candidate, error) {
	rows, err := d.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query candidates: %w", err)
	}
	defer rows.Close()
	var out []candidate
	for rows.Next() {
		var c candidate
		var text string
		if err := rows.Scan(&c.ID, &c.OfferID, &c.Sender, &c.Role, &text, &c.CreatedAt); err != nil {
			return nil, fmt.Errorf("read candidate: %w", err)
		}
		c.Candidate = json.RawMessage(text)
		out = append(out, c)
	}
	return out, rows.Err()
}

// deleteOffer deletes an offer of owner (expired or not) with its tags and candidates.
func (d db) deleteOffer(ctx context.Context, gen int, id, owner string) (bool, error) {
	defer d.changed()
	defer d.dropHead(gen, id)
	var n int64
	err := d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error { // a transaction, to share a group commit
		res, err := d.txExec(ctx, tx, sqlDeleteOffer, gen, id, owner)
		if err != nil {
			return fmt.Errorf("delete offer: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n > 0, err
}

// replaceTags gives every live offer of owner the tags; it returns how many it changed.
func (d db) replaceTags(ctx context.Context, gen int, owner string, tags []string, now int64) (int, error) {
	defer d.changed()
	defer d.dropHeads()
	n := 0
	err := d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM signal_offers WHERE gen = $1 AND owner = $2 AND expires_at > $3`, gen, owner, now)
		if err != nil {
			return fmt.Errorf("select offers: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE signal_offers SET tags = $1 WHERE gen = $2 AND id = $3`, jsonList(tags), gen, id); err != nil {
				return fmt.Errorf("update tags: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM signal_offer_tags WHERE gen = $1 AND offer_id = $2`, gen, id); err != nil {
				return fmt.Errorf("delete tags: %w", err)
			}
			for _, t := range tags {
				if _, err := tx.ExecContext(ctx, `INSERT INTO signal_offer_tags (gen, offer_id, tag) VALUES ($1, $2, $3)`, gen, id, t); err != nil {
					return fmt.Errorf("insert tag: %w", err)
				}
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// useNonce records a nonce until expiresAt; false means it was used already.
func (d db) useNonce(ctx context.Context, key string, expiresAt int64) (bool, error) {
	res, err := d.Exec(ctx, sqlUseNonce, key, expiresAt)
	if err != nil {
		return false, fmt.Errorf("store nonce: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// registerPeer records that id was issued a credential with iv and is held until expiresAt.
// With claim (a client-chosen id) it fails with errExists while the id is held: registered
// and not expired, or owning live G2 offers (the original's rule).
func (d db) registerPeer(ctx context.Context, id, iv string, claim bool, now, expiresAt int64) error {
	return d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if claim {
			var held int
			err := tx.QueryRowContext(ctx, `SELECT
				(SELECT COUNT(*) FROM signal_peers WHERE id = $1 AND expires_at > $2) +
				(SELECT COUNT(*) FROM signal_offers WHERE gen = $3 AND owner = $1 AND expires_at > $2)`, id, now, gen2).Scan(&held)
			if err != nil {
				return fmt.Errorf("check peer id: %w", err)
			}
			if held > 0 {
				return errExists
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO signal_peers (id, iv, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET iv = excluded.iv, expires_at = excluded.expires_at`, id, iv, expiresAt)
		if err != nil {
			return fmt.Errorf("register peer: %w", err)
		}
		return nil
	})
}

// peerIV returns the IV of the credential id was last issued with; "" when the id has no
// registration on record (issued before registrations were kept, or by an original server
// sharing the key).
func (d db) peerIV(ctx context.Context, id string) (string, error) {
	var iv string
	err := d.QueryRow(ctx, `SELECT iv FROM signal_peers WHERE id = $1`, id).Scan(&iv)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read peer: %w", err)
	}
	return iv, nil
}

// cleanup deletes expired offers (their tags and candidates cascade) and nonces.
func (d db) cleanup(ctx context.Context, now int64) (offers, nonces int64, err error) {
	defer d.changed()
	res, err := d.Exec(ctx, `DELETE FROM signal_offers WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, 0, fmt.Errorf("delete expired offers: %w", err)
	}
	offers, _ = res.RowsAffected()
	res, err = d.Exec(ctx, `DELETE FROM signal_nonces WHERE expires_at < $1`, now)
	if err != nil {
		return offers, 0, fmt.Errorf("delete expired nonces: %w", err)
	}
	nonces, _ = res.RowsAffected()
	// An expired registration binds nothing any more: its id is free (registerPeer), and a
	// new registration writes its own row.
	if _, err := d.Exec(ctx, `DELETE FROM signal_peers WHERE expires_at < $1`, now); err != nil {
		return offers, nonces, fmt.Errorf("delete expired peers: %w", err)
	}
	return offers, nonces, nil
}

// key returns the named secret key, creating it with make on first use. Concurrent first
// uses on several nodes agree: the first insert wins and everyone reads it back.
func (d db) key(ctx context.Context, name string, make func() []byte) ([]byte, error) {
	_, err := d.Exec(ctx, `INSERT INTO signal_keys (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		name, hex.EncodeToString(make()))
	if err != nil {
		return nil, fmt.Errorf("store key %s: %w", name, err)
	}
	var v string
	if err := d.Write().QueryRowContext(ctx, `SELECT value FROM signal_keys WHERE name = $1`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("read key %s: %w", name, err)
	}
	return hex.DecodeString(v)
}

// touch sets an offer's last_seen (G2 0.1.0's heartbeat).
func (d db) touch(ctx context.Context, gen int, id string, now int64) error {
	defer d.changed()
	return d.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error { // a transaction, to share a group commit
		if _, err := d.txExec(ctx, tx, sqlTouch, now, gen, id); err != nil {
			return fmt.Errorf("touch offer: %w", err)
		}
		return nil
	})
}

// pollCandidates returns, for G4's poll, the candidates newer than since that wait for me:
// the answerer's on live offers I own, the offerer's on live offers I answered (owner wins
// when I am both), oldest first.
func (d db) pollCandidates(ctx context.Context, gen int, me string, since, now int64) ([]candidate, error) {
	return d.queryCandidates(ctx, `SELECT c.id, c.offer_id, c.sender, c.role, c.candidate, c.created_at
		FROM signal_candidates c JOIN signal_offers o ON o.gen = c.gen AND o.id = c.offer_id
		WHERE c.gen = $1 AND o.expires_at > $2 AND c.created_at > $3
		  AND ((o.owner = $4 AND c.role = 'answerer') OR (o.answerer = $4 AND o.owner <> $4 AND c.role = 'offerer'))
		ORDER BY c.created_at, c.id`, gen, now, since, me)
}

// partyRole is the role of peer on o: "offerer" for its owner, "answerer" for the peer that
// answered it, "" for anyone else.
func partyRole(o *offer, peer string) string {
	switch {
	case o.Owner == peer:
		return "offerer"
	case o.Answered && o.Answerer == peer:
		return "answerer"
	}
	return ""
}

func otherRole(role string) string {
	if role == "offerer" {
		return "answerer"
	}
	return "offerer"
}

// counterpart is the identity that waits for what role sends: the answerer for the
// offerer's candidates ("" while there is none), the owner for the answerer's.
func (o *offer) counterpart(role string) string {
	if role == "offerer" {
		return o.Answerer
	}
	return o.Owner
}
