package signal

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/switchboard/switchboard/internal/module"
)

// view is signaling in the console: the live offers of each generation by tag (G2 topic, G4
// tag, G1 topic), answered or still waiting.
type view struct{ s *Service }

// offersUnderTag is one generation's offers under one tag.
type offersUnderTag struct {
	Gen      int    `json:"gen"`
	Tag      string `json:"tag"`
	Waiting  int64  `json:"waiting"`
	Answered int64  `json:"answered"`
}

// viewTags bounds the rows a snapshot lists: the busiest tags first.
const viewTags = 100

func (v view) Snapshot(ctx context.Context) (any, error) {
	now := v.s.nowMS()
	rows, err := v.s.db.Query(ctx, `
		SELECT t.gen, t.tag,
			SUM(CASE WHEN o.answerer IS NULL THEN 1 ELSE 0 END),
			SUM(CASE WHEN o.answerer IS NULL THEN 0 ELSE 1 END)
		FROM signal_offer_tags t JOIN signal_offers o ON o.gen = t.gen AND o.id = t.offer_id
		WHERE o.expires_at > $1
		GROUP BY t.gen, t.tag
		ORDER BY COUNT(*) DESC, t.gen, t.tag
		LIMIT $2`, now, viewTags)
	if err != nil {
		return nil, fmt.Errorf("signal view: %w", err)
	}
	defer rows.Close()
	tags := []offersUnderTag{}
	totals := map[string]map[string]int64{}
	for rows.Next() {
		var c offersUnderTag
		if err := rows.Scan(&c.Gen, &c.Tag, &c.Waiting, &c.Answered); err != nil {
			return nil, fmt.Errorf("signal view: %w", err)
		}
		tags = append(tags, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("signal view: %w", err)
	}
	// Offers, not tag rows: an offer under two topics counts once.
	trows, err := v.s.db.Query(ctx, `
		SELECT gen, SUM(CASE WHEN answerer IS NULL THEN 1 ELSE 0 END), SUM(CASE WHEN answerer IS NULL THEN 0 ELSE 1 END)
		FROM signal_offers WHERE expires_at > $1 GROUP BY gen`, now)
	if err != nil {
		return nil, fmt.Errorf("signal view: %w", err)
	}
	defer trows.Close()
	for trows.Next() {
		var gen int
		var waiting, answered int64
		if err := trows.Scan(&gen, &waiting, &answered); err != nil {
			return nil, fmt.Errorf("signal view: %w", err)
		}
		totals[fmt.Sprintf("g%d", gen)] = map[string]int64{"waiting": waiting, "answered": answered}
	}
	return map[string]any{"tags": tags, "totals": totals}, trows.Err()
}

// Act: signaling has no actions.
func (view) Act(context.Context, string, json.RawMessage) (any, error) {
	return nil, module.ErrNoAction
}
