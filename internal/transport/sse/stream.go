// Package sse serves Server-Sent Events streams with the same bounded outbound queue as
// WebSocket connections.
package sse

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/metrics"
	"github.com/switchboard/switchboard/internal/transport"
)

// Options are shared by every stream of one endpoint.
type Options struct {
	App          string // the app the streams serve, as the console shows it
	QueueBytes   int
	WriteTimeout time.Duration
	// MaxLifetime ends a stream after this long (0 = never), so that clients reconnect (with
	// Last-Event-ID) and load spreads over nodes again.
	MaxLifetime time.Duration
	// Goodbye is written before the stream ends on shutdown.
	Goodbye  []byte
	Registry *transport.Registry
}

// Stream is one open event stream.
type Stream struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	opts  *Options
	q     *hub.Queue
	wakeC chan struct{}
	slow  atomic.Bool
	// cutSlow records a slow-consumer cut-off; made once, Offer takes it on every send.
	cutSlow func()
}

var _ transport.Conn = (*Stream)(nil)

// Start registers a stream for r and writes the response headers; on refusal it answers w.
func Start(w http.ResponseWriter, r *http.Request, opts *Options) (*Stream, error) {
	s := &Stream{w: w, rc: http.NewResponseController(w), opts: opts, wakeC: make(chan struct{}, 1)}
	s.q = hub.NewQueue(opts.QueueBytes, s.wake)
	s.cutSlow = func() {
		metrics.Disconnects.WithLabelValues("slow").Inc()
		s.slow.Store(true)
	}
	if err := opts.Registry.Add(s, httpx.ClientIP(r)); err != nil {
		transport.Refuse(w, err)
		return nil, err
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // tell nginx not to buffer the stream
	w.WriteHeader(http.StatusOK)
	metrics.Connections.WithLabelValues("sse").Inc()
	return s, nil
}

func (s *Stream) wake() {
	select {
	case s.wakeC <- struct{}{}:
	default:
	}
}

// Send queues b; false means the stream is closed or too slow (it is then ended).
func (s *Stream) Send(b []byte) bool { return s.q.Offer(b, s.cutSlow) }

// Close ends the stream after flushing what is queued.
func (s *Stream) Close() { s.q.Close(false) }

var ping = []byte(": ping\n\n")

// Heartbeat queues a comment, which keeps proxies from timing the stream out.
func (s *Stream) Heartbeat() { s.Send(ping) }

// Shutdown writes the goodbye event and ends the stream.
func (s *Stream) Shutdown() {
	metrics.Disconnects.WithLabelValues("shutdown").Inc()
	if s.opts.Goodbye != nil {
		_ = s.q.Push(s.opts.Goodbye)
	}
	s.Close()
}

// Serve writes queued events until the stream is closed, the client leaves or its lifetime
// ends. It runs on the request's goroutine and returns why it stopped.
func (s *Stream) Serve(ctx context.Context) string {
	defer func() {
		s.q.Close(true)
		s.opts.Registry.Remove(s)
		metrics.Connections.WithLabelValues("sse").Dec()
	}()
	var life <-chan time.Time
	if s.opts.MaxLifetime > 0 {
		t := time.NewTimer(s.opts.MaxLifetime)
		defer t.Stop()
		life = t.C
	}
	if err := s.rc.Flush(); err != nil {
		return "flush failed"
	}
	var batch [][]byte
	for {
		select {
		case <-ctx.Done():
			return "client left"
		case <-life:
			return "lifetime reached"
		case <-s.wakeC:
		}
		for {
			var state hub.TakeState
			batch, state = s.q.Take(batch[:0])
			if state == hub.Idle {
				break
			}
			if state == hub.Drained {
				if s.slow.Load() {
					return "slow consumer"
				}
				return "closed"
			}
			if err := s.write(batch); err != nil {
				return "write failed"
			}
			clear(batch)
		}
	}
}

func (s *Stream) write(batch [][]byte) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	for _, b := range batch {
		if _, err := s.w.Write(b); err != nil {
			return err
		}
	}
	return s.rc.Flush()
}

// Format encodes one event. Data may hold line breaks (LF, CRLF or a lone CR, all of which
// the SSE format treats as line ends): each line becomes its own "data:" field, so the
// browser's EventSource rebuilds the data with "\n" between lines.
func Format(id, event string, data []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(data) + len(id) + len(event) + 32)
	if id != "" {
		b.WriteString("id: ")
		b.WriteString(oneLine(id))
		b.WriteByte('\n')
	}
	if event != "" {
		b.WriteString("event: ")
		b.WriteString(oneLine(event))
		b.WriteByte('\n')
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			b.WriteString("data: ")
			b.Write(data)
			b.WriteByte('\n')
			break
		}
		b.WriteString("data: ")
		b.Write(data[:i])
		b.WriteByte('\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// oneLine drops line breaks from a field that must stay on one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}

// Describe is the stream's app and transport.
func (s *Stream) Describe() (string, string) { return s.opts.App, "sse" }
