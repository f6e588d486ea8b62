package native

import (
	"encoding/json"
	"strconv"

	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/pubsub"
	"github.com/switchboard/switchboard/internal/transport/sse"
)

// command is one client→server frame (docs/protocol.md). A frame may hold several commands
// separated by "\n".
type command struct {
	ID     uint32          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// reply answers a command with the same id.
type reply struct {
	ID     uint32 `json:"id"`
	Result any    `json:"result,omitempty"`
	Error  *Error `json:"error,omitempty"`
}

type connectParams struct {
	Token string `json:"token"`
}

type connectResult struct {
	Client  string `json:"client"`
	User    string `json:"user,omitempty"`
	Expires int64  `json:"expires,omitempty"` // unix seconds when the token expires
	Ping    int    `json:"ping"`              // seconds between server pings
	Version string `json:"version"`
}

type channelParams struct {
	Channel string `json:"channel"`
}

type subscribeParams struct {
	Channel string                 `json:"channel"`
	Since   *pubsub.StreamPosition `json:"since"`
}

type subscribeResult struct {
	Channel      string                `json:"channel"`
	Offset       uint64                `json:"offset"`
	Epoch        string                `json:"epoch"`
	Recoverable  bool                  `json:"recoverable"`
	Recovered    *bool                 `json:"recovered,omitempty"` // only when since was given
	Publications []*pubsub.Publication `json:"publications,omitempty"`
}

type publishParams struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

type publishResult struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

type historyParams struct {
	Channel string                 `json:"channel"`
	Limit   int                    `json:"limit"`
	Since   *pubsub.StreamPosition `json:"since"`
}

type historyResult struct {
	Publications []*pubsub.Publication `json:"publications"`
	Offset       uint64                `json:"offset"`
	Epoch        string                `json:"epoch"`
}

type presenceResult struct {
	Presence map[string]*pubsub.ClientInfo `json:"presence"`
}

// Pushes: server→client frames without an id.
var (
	pingPush = []byte(`{"push":"ping"}`)
)

// nativeJSON encodes hub events as the native protocol's push frames; the hub caches the
// bytes on the event, so every WebSocket subscriber gets the same slice.
var nativeJSON = hub.NewEncoding("native-json", encodePush)

func encodePush(ev *hub.Event) []byte {
	ch, _ := json.Marshal(ev.Channel)
	b := make([]byte, 0, 64+len(ev.Channel)+pubSize(ev))
	switch ev.Kind {
	case hub.KindPublication:
		b = append(b, `{"push":"pub","channel":`...)
		b = append(b, ch...)
		b = append(b, `,"offset":`...)
		b = strconv.AppendUint(b, ev.Pub.Offset, 10)
		b = append(b, `,"time":`...)
		b = strconv.AppendInt(b, ev.Pub.Time, 10)
		b = append(b, `,"data":`...)
		b = append(b, ev.Pub.Data...)
		if ev.Pub.Info != nil {
			info, _ := json.Marshal(ev.Pub.Info)
			b = append(b, `,"info":`...)
			b = append(b, info...)
		}
	case hub.KindJoin, hub.KindLeave:
		kind := "join"
		if ev.Kind == hub.KindLeave {
			kind = "leave"
		}
		info, _ := json.Marshal(ev.Info)
		b = append(b, `{"push":"`...)
		b = append(b, kind...)
		b = append(b, `","channel":`...)
		b = append(b, ch...)
		b = append(b, `,"info":`...)
		b = append(b, info...)
	}
	return append(b, '}')
}

func pubSize(ev *hub.Event) int {
	if ev.Pub != nil {
		return len(ev.Pub.Data)
	}
	return 0
}

// sseEvents encodes hub events as SSE events whose data is the native push and whose id is
// "epoch:offset", so an EventSource resumes with Last-Event-ID. An unsequenced publication (no
// history) carries no id: there is nothing to resume from.
var sseEvents = hub.NewEncoding("native-sse", func(ev *hub.Event) []byte {
	push := ev.Bytes(nativeJSON)
	switch ev.Kind {
	case hub.KindPublication:
		if ev.Pub.Offset == 0 {
			return sse.Format("", "pub", push)
		}
		return sse.Format(ev.Epoch+":"+strconv.FormatUint(ev.Pub.Offset, 10), "pub", push)
	case hub.KindJoin:
		return sse.Format("", "join", push)
	default:
		return sse.Format("", "leave", push)
	}
})

func disconnectPush(code int, reason string, reconnect bool) []byte {
	b, _ := json.Marshal(struct {
		Push      string `json:"push"`
		Code      int    `json:"code"`
		Reason    string `json:"reason"`
		Reconnect bool   `json:"reconnect"`
	}{"disconnect", code, reason, reconnect})
	return b
}
