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

	"github.com/switchboard/switchboard/internal/pubsub"
)

// Handler receives what the broker carries to this node.
type Handler interface {
	HandlePublication(channel string, pub *pubsub.Publication, sp pubsub.StreamPosition)
	HandleJoin(channel string, info *pubsub.ClientInfo)
	HandleLeave(channel string, info *pubsub.ClientInfo)
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
	Publish(ctx context.Context, channel string, data []byte, opts pubsub.PublishOptions) (pubsub.StreamPosition, error)
	PublishJoin(ctx context.Context, channel string, info *pubsub.ClientInfo) error
	PublishLeave(ctx context.Context, channel string, info *pubsub.ClientInfo) error
	// History returns the stream's publications after f.Since (oldest first) and its position.
	History(ctx context.Context, channel string, f pubsub.HistoryFilter) (pubsub.HistoryResult, error)
	// Ping reports whether the engine is reachable.
	Ping(ctx context.Context) error
	Close(ctx context.Context) error
}

// PresenceManager keeps who is in each channel.
type PresenceManager interface {
	// AddPresence records info under clientID. It returns pubsub.ErrPresenceFull when the channel
	// already lists max members; the client stays subscribed but unlisted.
	AddPresence(ctx context.Context, channel, clientID string, info *pubsub.ClientInfo, max int) error
	RemovePresence(ctx context.Context, channel, clientID string) error
	Presence(ctx context.Context, channel string) (map[string]*pubsub.ClientInfo, error)
	PresenceStats(ctx context.Context, channel string) (pubsub.PresenceStats, error)
}
