package hub

import (
	"sync"
	"sync/atomic"

	"github.com/switchboard/switchboard/internal/pubsub"
)

// Kind tells what an Event carries.
type Kind uint8

// Event kinds.
const (
	KindPublication Kind = iota + 1
	KindJoin
	KindLeave
)

// Event is one thing delivered to every subscriber of a channel. It is built once per
// publication; each wire format encodes it at most once (Bytes), and the same bytes go to
// every subscriber using that format.
type Event struct {
	Kind    Kind
	Channel string
	Pub     *pubsub.Publication // KindPublication
	Epoch   string              // KindPublication: the stream epoch of Pub.Offset
	Info    *pubsub.ClientInfo  // KindJoin, KindLeave

	// One lock per encoding, so an encoding may build on another (SSE wraps the native JSON).
	mu      [maxEncodings]sync.Mutex
	encoded [maxEncodings]atomic.Pointer[[]byte]
}

// Encoding is one wire format's way of turning an Event into bytes.
type Encoding struct {
	name   string
	idx    int
	encode func(*Event) []byte
}

const maxEncodings = 8

var (
	encodingsMu sync.Mutex
	encodings   []*Encoding
)

// NewEncoding registers a wire format. It is called from package initialisation; a program
// has at most eight.
func NewEncoding(name string, encode func(*Event) []byte) *Encoding {
	encodingsMu.Lock()
	defer encodingsMu.Unlock()
	if len(encodings) == maxEncodings {
		panic("hub: too many encodings; raise maxEncodings")
	}
	e := &Encoding{name: name, idx: len(encodings), encode: encode}
	encodings = append(encodings, e)
	return e
}

// Bytes returns the event in enc's format, encoding it on first use only.
func (e *Event) Bytes(enc *Encoding) []byte {
	if p := e.encoded[enc.idx].Load(); p != nil {
		return *p
	}
	e.mu[enc.idx].Lock()
	defer e.mu[enc.idx].Unlock()
	if p := e.encoded[enc.idx].Load(); p != nil {
		return *p
	}
	b := enc.encode(e)
	e.encoded[enc.idx].Store(&b)
	return b
}
