package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/switchboard/switchboard/internal/module"
)

// view is the chat in the console: its channels with who is in each (on every node), the
// number of users, and the newest messages; an admin can disconnect a user.
type view struct{ a *App }

// viewMessages is how many of the newest messages a snapshot shows.
const viewMessages = 20

type channelView struct {
	Channel
	Online []string `json:"online"` // usernames in the channel now
}

type messageView struct {
	Message
	Username string `json:"username"`
}

func (v view) Snapshot(ctx context.Context) (any, error) {
	a := v.a
	users, err := a.db.userCount(ctx)
	if err != nil {
		return nil, err
	}
	chans, err := a.db.channels(ctx, nil)
	if err != nil {
		return nil, err
	}
	msgs, err := a.db.messages(ctx, messageQuery{Limit: viewMessages})
	if err != nil {
		return nil, err
	}
	// The user ids present in each channel, then every name needed, in one query (not the
	// whole user table every two seconds).
	present := make([][]int64, len(chans))
	var ids []int64
	for i, c := range chans {
		members, err := a.hub.Presence(ctx, channelTopic(c.ID))
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			if id, err := strconv.ParseInt(m.User, 10, 64); err == nil && !slices.Contains(present[i], id) {
				present[i] = append(present[i], id)
			}
		}
		slices.Sort(present[i])
		ids = append(ids, present[i]...)
	}
	for _, m := range msgs {
		ids = append(ids, m.UserID)
	}
	slices.Sort(ids)
	names, err := a.db.usernames(ctx, slices.Compact(ids))
	if err != nil {
		return nil, err
	}
	out := make([]channelView, len(chans))
	for i, c := range chans {
		out[i] = channelView{Channel: c, Online: []string{}}
		for _, id := range present[i] {
			if n := names[id]; n != "" {
				out[i].Online = append(out[i].Online, n)
			}
		}
	}
	recent := make([]messageView, len(msgs))
	for i, m := range msgs {
		recent[i] = messageView{Message: m, Username: names[m.UserID]}
	}
	return map[string]any{"users": users, "channels": out, "messages": recent}, nil
}

// Act "disconnect" {"username"}: the user's login tokens are revoked and their sockets, on
// every node, disconnected (a socket.io client does not reconnect after that).
func (v view) Act(ctx context.Context, action string, params json.RawMessage) (any, error) {
	if action != "disconnect" {
		return nil, module.ErrNoAction
	}
	var p struct {
		Username string `json:"username"`
	}
	if err := json.Unmarshal(params, &p); err != nil || p.Username == "" {
		return nil, fmt.Errorf(`%w: disconnect takes {"username": name}`, module.ErrBadParams)
	}
	a := v.a
	us, err := a.db.users(ctx, nil, &p.Username)
	if err != nil {
		return nil, err
	}
	if len(us) == 0 {
		return nil, fmt.Errorf("%w: no user %q", module.ErrNotFound, p.Username)
	}
	id := us[0].ID
	res, err := a.db.Exec(ctx, `DELETE FROM chat_token WHERE user_id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("revoke tokens: %w", err)
	}
	revoked, _ := res.RowsAffected()
	if err := a.sio.CloseRoom(ctx, userRoom(id)); err != nil {
		return nil, err
	}
	a.log.Info("user disconnected from the console", "user", p.Username, "tokens_revoked", revoked)
	return map[string]any{"disconnected": p.Username, "tokens_revoked": revoked}, nil
}
