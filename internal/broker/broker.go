// Package broker carries publications, join/leave events and presence between the nodes of a
// Switchboard cluster, and keeps each channel's stream (offsets, epoch, history).
//
// Guarantees every engine gives:
//   - Publish is at-most-once towards subscribers; within the history window a client can
//     recover what it missed, by offset and epoch.
//   - Per channel, offsets increase by exactly one per publication and Handler.HandlePublication
//     is called in offset order.
//   - The epoch of a stream changes whenever its history may have been lost (engine restart,
//     stream expiry), so a client never mistakes a new stream for the old one.
package broker

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ClientInfo says who published, joined or left.
type ClientInfo struct {
	Client string          `json:"client"`
	User   string          `json:"user,omitempty"`
	Info   json.RawMessage `json:"info,omitempty"`
}

// Publication is one message of a channel stream.
type Publication struct {
	Offset uint64          `json:"offset"`
	Data   json.RawMessage `json:"data"`
	Info   *ClientInfo     `json:"info,omitempty"`
	Time   int64           `json:"time"` // unix milliseconds, set by the broker
}

// StreamPosition is where a channel stream stands: the offset of its newest publication and
// the epoch that offset belongs to.
type StreamPosition struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// PublishOptions shape one publication.
type PublishOptions struct {
	HistorySize int           // publications kept; 0 keeps none
	HistoryTTL  time.Duration // how long they are kept
	Info        *ClientInfo   // the publisher, if a client
}

// HistoryFilter selects from a stream. With Since set, the engine returns the publications
// after it; Limit caps the answer (0 means none are returned, only the position; -1 means all).
type HistoryFilter struct {
	Since *StreamPosition
	Limit int
}

// HistoryResult is what History returns.
type HistoryResult struct {
	Publications []*Publication
	Position     StreamPosition
}

// Handler receives what the broker carries to this node.
type Handler interface {
	HandlePublication(channel string, pub *Publication, sp StreamPosition)
	HandleJoin(channel string, info *ClientInfo)
	HandleLeave(channel string, info *ClientInfo)
}

// Broker is the engine between nodes.
type Broker interface {
	// Run starts delivering to h. It is called once, before any other method.
	Run(h Handler) error
	// Subscribe and Unsubscribe tell the broker whether this node has local subscribers of a
	// channel; an engine may use it to route. Both are idempotent: the hub may repeat them.
	Subscribe(channel string) error
	Unsubscribe(channel string) error
	// Publish appends data to the channel stream and delivers it to every node.
	Publish(ctx context.Context, channel string, data []byte, opts PublishOptions) (StreamPosition, error)
	PublishJoin(ctx context.Context, channel string, info *ClientInfo) error
	PublishLeave(ctx context.Context, channel string, info *ClientInfo) error
	// History returns the stream's publications after f.Since (oldest first) and its position.
	History(ctx context.Context, channel string, f HistoryFilter) (HistoryResult, error)
	// Ping reports whether the engine is reachable.
	Ping(ctx context.Context) error
	Close(ctx context.Context) error
}

// PresenceStats counts a channel's members.
type PresenceStats struct {
	Clients int `json:"num_clients"`
	Users   int `json:"num_users"`
}

// PresenceManager keeps who is in each channel.
type PresenceManager interface {
	// AddPresence records info under clientID. It returns ErrPresenceFull when the channel
	// already lists max members; the client stays subscribed but unlisted.
	AddPresence(ctx context.Context, channel, clientID string, info *ClientInfo, max int) error
	RemovePresence(ctx context.Context, channel, clientID string) error
	Presence(ctx context.Context, channel string) (map[string]*ClientInfo, error)
	PresenceStats(ctx context.Context, channel string) (PresenceStats, error)
}

// ErrPresenceFull is returned by AddPresence when a channel lists its maximum of members.
var ErrPresenceFull = errors.New("presence full")
