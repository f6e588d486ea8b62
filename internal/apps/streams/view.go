package streams

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/switchboard/switchboard/internal/module"
)

// view is the streams in the console: each live stream with its sender, whether a sender is
// connected (on any node), and its viewers on this node; an admin can end a stream.
type view struct{ a *App }

type streamView struct {
	streamInfo
	SendersConnected int `json:"senders_connected"`
	ViewersHere      int `json:"viewers_here"`
}

func (v view) Snapshot(ctx context.Context) (any, error) {
	a := v.a
	list, err := a.db.streams(ctx, "")
	if err != nil {
		return nil, err
	}
	connected := map[string]int{}
	rows, err := a.db.Query(ctx, `SELECT stream_id, COUNT(*) FROM streams_senders GROUP BY stream_id`)
	if err != nil {
		return nil, fmt.Errorf("streams view: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("streams view: %w", err)
		}
		connected[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("streams view: %w", err)
	}
	out := make([]streamView, len(list))
	a.mu.Lock()
	for i, s := range list {
		out[i] = streamView{streamInfo: info(s), SendersConnected: connected[s.ID]}
		for p := range a.local[s.ID] {
			if !p.sender {
				out[i].ViewersHere++
			}
		}
	}
	a.mu.Unlock()
	return map[string]any{"streams": out}, nil
}

// Act "end" {"stream"}: the stream is deleted and every node closes its sockets, as when it
// times out.
func (v view) Act(ctx context.Context, action string, params json.RawMessage) (any, error) {
	if action != "end" {
		return nil, module.ErrNoAction
	}
	var p struct {
		Stream string `json:"stream"`
	}
	if err := json.Unmarshal(params, &p); err != nil || p.Stream == "" {
		return nil, fmt.Errorf(`%w: end takes {"stream": id}`, module.ErrBadParams)
	}
	res, err := v.a.db.Exec(ctx, `DELETE FROM streams_streams WHERE id = $1`, p.Stream)
	if err != nil {
		return nil, fmt.Errorf("end stream: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, fmt.Errorf("%w: no live stream %q", module.ErrNotFound, p.Stream)
	}
	v.a.log.Info("stream ended from the console", "stream", p.Stream)
	v.a.announceEnd(ctx, p.Stream)
	return map[string]any{"ended": p.Stream}, nil
}
