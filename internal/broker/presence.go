package broker

import (
	"context"
	"maps"
	"sync"

	"github.com/switchboard/switchboard/internal/pubsub"
)

// localPresence is the members this process holds, by channel. The memory engine's presence
// is exactly this; a cluster engine keeps each node's own members here and merges the nodes'
// answers.
type localPresence struct {
	presMu   sync.Mutex
	presence map[string]map[string]*pubsub.ClientInfo
}

func newLocalPresence() localPresence {
	return localPresence{presence: map[string]map[string]*pubsub.ClientInfo{}}
}

// AddPresence lists clientID in ch unless the channel already lists max members.
func (p *localPresence) AddPresence(_ context.Context, ch, clientID string, info *pubsub.ClientInfo, max int) error {
	p.presMu.Lock()
	defer p.presMu.Unlock()
	members := p.presence[ch]
	if members == nil {
		members = map[string]*pubsub.ClientInfo{}
		p.presence[ch] = members
	}
	if _, ok := members[clientID]; !ok && max > 0 && len(members) >= max {
		return pubsub.ErrPresenceFull
	}
	members[clientID] = info
	return nil
}

// RemovePresence unlists clientID.
func (p *localPresence) RemovePresence(_ context.Context, ch, clientID string) error {
	p.presMu.Lock()
	defer p.presMu.Unlock()
	if members := p.presence[ch]; members != nil {
		delete(members, clientID)
		if len(members) == 0 {
			delete(p.presence, ch)
		}
	}
	return nil
}

// Presence returns a copy of the member list.
func (p *localPresence) Presence(_ context.Context, ch string) (map[string]*pubsub.ClientInfo, error) {
	p.presMu.Lock()
	defer p.presMu.Unlock()
	out := make(map[string]*pubsub.ClientInfo, len(p.presence[ch]))
	maps.Copy(out, p.presence[ch])
	return out, nil
}

// PresenceStats counts members and distinct users.
func (p *localPresence) PresenceStats(ctx context.Context, ch string) (pubsub.PresenceStats, error) {
	members, _ := p.Presence(ctx, ch)
	return stats(members), nil
}

// stats counts members and distinct users of a member list.
func stats(members map[string]*pubsub.ClientInfo) pubsub.PresenceStats {
	users := map[string]struct{}{}
	for _, info := range members {
		if info.User != "" {
			users[info.User] = struct{}{}
		}
	}
	return pubsub.PresenceStats{Clients: len(members), Users: len(users)}
}
