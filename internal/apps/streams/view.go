package streams

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/switchboard/switchboard/internal/module"
)

// view is the streams in the console: each live stream with its sender, whether a sender is
// connected (on any node), its viewers on every node and on this one; an admin can end a
// stream. Other nodes' counts are as of their last sweep (a quarter of stream_timeout).
type view struct{ a *App }

type streamView struct {
	streamInfo
	SendersConnected int `json:"senders_connected"`
	Viewers          int `json:"viewers"`
	ViewersHere      int `json:"viewers_here"`
}

func (v view) Snapshot(ctx context.Context) (any, error) {
	a := v.a
	list, err := a.db.streams(ctx, "")
	if err != nil {
		return nil, err
	}
	connected, err := a.db.perStream(ctx, `SELECT stream_id, COUNT(*) FROM streams_senders GROUP BY stream_id`)
	if err != nil {
		return nil, fmt.Errorf("streams view: senders: %w", err)
	}
	// Other nodes' counts, as of their last sweep; this node's, live.
	elsewhere, err := a.db.perStream(ctx, `SELECT stream_id, SUM(viewers) FROM streams_viewers
		WHERE node_id <> $1 AND seen_at >= $2 GROUP BY stream_id`, a.node, a.staleBefore(a.ms()))
	if err != nil {
		return nil, fmt.Errorf("streams view: viewers: %w", err)
	}
	_, here := a.localPeers()
	out := make([]streamView, len(list))
	for i, s := range list {
		out[i] = streamView{streamInfo: info(s), SendersConnected: connected[s.ID],
			Viewers: here[s.ID] + elsewhere[s.ID], ViewersHere: here[s.ID]}
	}
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
