package chat

import (
	"context"
	"encoding/json"
	"fmt"
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
	users, err := a.db.users(ctx, nil, nil)
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(users))
	for _, u := range users {
		names[u.ID] = u.Username
	}
	chans, err := a.db.channels(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := make([]channelView, len(chans))
	for i, c := range chans {
		out[i] = channelView{Channel: c, Online: []string{}}
		members, err := a.hub.Presence(ctx, channelTopic(c.ID))
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, m := range members {
			id, _ := strconv.ParseInt(m.User, 10, 64)
			if n := names[id]; n != "" && !seen[n] {
				seen[n] = true
				out[i].Online = append(out[i].Online, n)
			}
		}
	}
	msgs, err := a.db.messages(ctx, messageQuery{Limit: viewMessages})
	if err != nil {
		return nil, err
	}
	recent := make([]messageView, len(msgs))
	for i, m := range msgs {
		recent[i] = messageView{Message: m, Username: names[m.UserID]}
	}
	return map[string]any{"users": len(users), "channels": out, "messages": recent}, nil
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
	res, err := a.db.Write().ExecContext(ctx, `DELETE FROM chat_token WHERE user_id = $1`, id)
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
