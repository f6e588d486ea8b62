package chat

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard/switchboard/internal/pubsub"
	"github.com/switchboard/switchboard/internal/transport/sio"
)

// Realtime (spec B6). A socket is anonymous until `identify` with a valid token; then it joins
// the identified room, which receives `post user`, `post message` and `channel movement` from
// every node. `change channel` puts it in the channel's room, which receives the channel's
// typing events (relayed like every broadcast: encoded once per room and node), and in the
// presence of the hub channel chat:channel:<id>, which, cluster-wide, is the `users` list of
// `channel movement`.
//
// keenchat crashed on a missing or non-object argument, hung on a falsy token, doubled its
// handlers on a second identify and kept typing handlers after unidentify; here every event
// checks its argument, answers or ignores, and all state is one struct per socket.

// identifiedRoom holds the local sockets that identified.
const identifiedRoom = "identified"

func channelTopic(id int64) string { return "chat:channel:" + strconv.FormatInt(id, 10) }

// userRoom holds a user's local sockets (the console disconnects a user through it).
func userRoom(id int64) string { return "user:" + strconv.FormatInt(id, 10) }

// channelRoom holds the local sockets in a channel.
func channelRoom(id int64) string { return "channel:" + strconv.FormatInt(id, 10) }

// rooms serialises, per channel on this node, a membership change and the presence read that
// follows it, so this node never broadcasts an older list after a newer one.
type rooms struct {
	mu    sync.Mutex
	locks map[int64]*sync.Mutex
}

func newRooms() *rooms { return &rooms{locks: map[int64]*sync.Mutex{}} }

func (r *rooms) lock(id int64) func() {
	r.mu.Lock()
	l := r.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		r.locks[id] = l
	}
	r.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// member is one socket's state.
type member struct {
	a    *App
	sock *sio.Socket

	mu         sync.Mutex
	user       int64 // 0: not identified
	channel    int64 // 0: in none
	typing     bool
	lastTyping time.Time
}

// opTimeout bounds the store and hub calls one event makes.
const opTimeout = 5 * time.Second

func (a *App) connected(sock *sio.Socket) {
	m := &member{a: a, sock: sock}
	on := sock.On
	on("identify", m.identify)
	on("change channel", m.changeChannel)
	on("start typing", func(arg any) { m.setTyping(arg, true) })
	on("stop typing", func(arg any) { m.setTyping(arg, false) })
	on("unidentify", func(any) { m.unidentify() })
	on("disconnect", func(any) { m.unidentify() })
}

func (m *member) identify(arg any) {
	token, _ := arg.(string)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	user, ok, err := m.a.user(ctx, token)
	if err != nil {
		m.a.log.Warn("identify", "err", err)
	}
	if !ok {
		m.sock.Emit("identity failure")
		return
	}
	m.mu.Lock()
	if m.user != 0 && m.user != user {
		m.leaveLocked(ctx) // a socket identifying as someone else leaves as its old self
		m.sock.Leave(userRoom(m.user))
	}
	m.user = user
	m.mu.Unlock()
	m.sock.Join(identifiedRoom)
	m.sock.Join(userRoom(user))
	m.sock.Emit("identified")
}

// unidentify ends the socket's identity: it leaves its channel (with `stop typing` if it was
// typing) and the identified room.
func (m *member) unidentify() {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.user == 0 {
		return
	}
	m.leaveLocked(ctx)
	m.sock.Leave(userRoom(m.user))
	m.user = 0
	m.sock.Leave(identifiedRoom)
}

func (m *member) changeChannel(arg any) {
	obj, _ := arg.(map[string]any)
	id, ok := intValue(obj["id"])
	if !ok || id <= 0 {
		return // keenchat crashed here on a missing argument
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := m.a.db.channel(ctx, id); err != nil {
		return // no such channel (keenchat joined any id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.user == 0 {
		return
	}
	m.leaveLocked(ctx)
	unlock := m.a.rooms.lock(id)
	defer unlock()
	// The channel's events reach its sockets through the room; its member list is the
	// hub's presence of the channel's topic, cluster-wide.
	info := &pubsub.ClientInfo{Client: m.sock.ID(), User: strconv.FormatInt(m.user, 10)}
	if err := m.a.hub.Join(ctx, channelTopic(id), info, m.a.maxPresence); err != nil && !errors.Is(err, pubsub.ErrPresenceFull) {
		m.a.log.Warn("join channel", "channel", id, "err", err)
		return
	}
	m.sock.Join(channelRoom(id))
	m.channel = id
	m.a.movement(ctx, id)
}

// leaveLocked leaves the current channel, if any; m.mu is held.
func (m *member) leaveLocked(ctx context.Context) {
	id := m.channel
	if id == 0 {
		return
	}
	if m.typing {
		m.a.typing(ctx, id, m.user, false)
		m.typing = false
	}
	unlock := m.a.rooms.lock(id)
	defer unlock()
	if err := m.a.hub.Leave(ctx, channelTopic(id), m.sock.ID()); err != nil {
		m.a.log.Warn("leave channel", "channel", id, "err", err)
	}
	m.sock.Leave(channelRoom(id))
	m.channel = 0
	m.a.movement(ctx, id)
}

func (m *member) setTyping(arg any, on bool) {
	obj, _ := arg.(map[string]any)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.user == 0 || m.channel == 0 || obj == nil {
		return
	}
	if id, ok := intValue(obj["channel_id"]); ok && id != m.channel {
		return // typing elsewhere than where the socket is: not shown to anyone
	}
	now := time.Now()
	if on == m.typing && now.Sub(m.lastTyping) < m.a.cfg.TypingInterval.D() {
		return // throttled: the same state again too soon
	}
	m.typing, m.lastTyping = on, now
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	m.a.typing(ctx, m.channel, m.user, on)
}

// typing tells a channel's sockets that user started or stopped typing. Never stored.
func (a *App) typing(ctx context.Context, channel, user int64, on bool) {
	event := "stop typing"
	if on {
		event = "start typing"
	}
	if err := a.sio.Broadcast(ctx, channelRoom(channel), event, map[string]int64{"channel_id": channel, "user_id": user}); err != nil {
		a.log.Warn("typing", "channel", channel, "err", err)
	}
}

// movement broadcasts a channel's members (distinct user ids, ascending) after a change.
func (a *App) movement(ctx context.Context, channel int64) {
	members, err := a.hub.Presence(ctx, channelTopic(channel))
	if err != nil {
		a.log.Warn("channel presence", "channel", channel, "err", err)
		return
	}
	users := []int64{}
	for _, info := range members {
		if id, err := strconv.ParseInt(info.User, 10, 64); err == nil && !slices.Contains(users, id) {
			users = append(users, id)
		}
	}
	slices.Sort(users)
	a.broadcast(ctx, "channel movement", struct {
		ChannelID int64   `json:"channel_id"`
		Users     []int64 `json:"users"`
	}{channel, users})
}
