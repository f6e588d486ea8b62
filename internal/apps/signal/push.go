package signal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/pubsub"
)

// Push: every answer and candidate is published, after it is stored, on a native channel of
// the peer that waits for it, so a client subscribed over /v1/ws or /v1/sse needs no polling.
// Polling keeps working and stays the source of truth (a push is at-most-once; recovery by
// offset covers short disconnects).
//
// Channels live in the PushNamespace, which only the server publishes to and anyone may
// subscribe to: a channel's name is the capability. It is an HMAC of the peer's identity
// under a key kept in the store, so it cannot be guessed, and a peer learns it only through an
// authenticated call (G2 GET /push and /register, G4 getPushChannel). G1 has no
// authentication at all, so its per-session channel is given to whoever holds the code.

// PushNamespace is the native namespace of signaling push channels.
const PushNamespace = "rondevu"

// PushNamespaceConfig is the namespace the node adds when the configuration lacks one.
var PushNamespaceConfig = config.Namespace{
	Name: PushNamespace, Subscribe: "all", Publish: "none",
	HistorySize: 100, HistoryTTL: config.Duration(5 * time.Minute),
}

type pushOptions = pubsub.PublishOptions

func pushOptionsFor(nss []config.Namespace) pushOptions {
	ns := PushNamespaceConfig
	for _, n := range nss {
		if n.Name == PushNamespace {
			ns = n
		}
	}
	return pushOptions{HistorySize: ns.HistorySize, HistoryTTL: ns.HistoryTTL.D()}
}

// channel names the push channel of an identity ("g2:<peerId>", "g4:<publicKey>",
// "g1:<origin>\x00<code>"): 128 bits of HMAC, URL-safe.
func (s *Service) channel(identity string) string {
	m := hmac.New(sha256.New, s.pushKey)
	m.Write([]byte(identity))
	return PushNamespace + ":" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Push event types, in the "type" field of every payload.
const (
	pushAnswer     = "answer"
	pushCandidates = "candidates"
)

// publish sends v on ch. The data is already stored, so a failure is logged, not returned:
// the peer still gets it by polling.
func (s *Service) publish(ctx context.Context, ch string, v any) {
	if s.hub == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("push encode", "err", err)
		return
	}
	if _, err := s.hub.Publish(context.WithoutCancel(ctx), ch, b, s.push); err != nil {
		s.log.Warn("push", "channel", ch, "err", err)
	}
}
