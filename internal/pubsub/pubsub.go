// Package pubsub holds the values that travel through Switchboard's realtime core: who a
// client is, a publication and its place in a channel stream, what a publish, a history read
// and a presence count take and give. The hub, the brokers and the apps share them; the
// package depends on nothing of Switchboard's, so apps reach the core through hub alone.
package pubsub

import (
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

// PresenceStats counts a channel's members.
type PresenceStats struct {
	Clients int `json:"num_clients"`
	Users   int `json:"num_users"`
}

// ErrPresenceFull is returned by AddPresence when a channel lists its maximum of members.
var ErrPresenceFull = errors.New("presence full")

// ErrUnavailable wraps what fails because the engine between nodes cannot be reached (NATS
// is down or this node is reconnecting): the caller should answer "try again", not "bug".
var ErrUnavailable = errors.New("the cluster broker is unreachable")
