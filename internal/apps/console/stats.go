package console

import (
	"encoding/json"
	"runtime"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/switchboard/switchboard/internal/metrics"
	"github.com/switchboard/switchboard/internal/transport"
)

// figures is one sample of the node, as the overview shows it. Totals count since the node
// started; the rates are per second over the last sample.
type figures struct {
	Time        int64             `json:"time"` // unix ms
	Version     string            `json:"version"`
	UptimeS     int64             `json:"uptime_s"`
	Store       string            `json:"store"`
	Broker      string            `json:"broker"`
	Nodes       []string          `json:"nodes"` // the cluster's live nodes; empty: this one alone
	Connections []transport.Count `json:"connections"`
	ConnTotal   int               `json:"connections_total"`
	Channels    int               `json:"channels"`
	PubRate     float64           `json:"publications_per_s"`
	DelivRate   float64           `json:"deliveries_per_s"`
	PubTotal    float64           `json:"publications_total"`
	DelivTotal  float64           `json:"deliveries_total"`
	Disconnects map[string]int64  `json:"disconnects"` // by reason ("slow", "shutdown", …)
	Refused     map[string]int64  `json:"refused"`     // by limit
	Errors      int64             `json:"http_errors"` // 5xx answers
	Goroutines  int               `json:"goroutines"`
	HeapBytes   uint64            `json:"heap_bytes"`
}

// historyLen is how many samples (seconds) a page that opens gets at once: its charts start
// full.
const historyLen = 300

// sampler takes a sample every second (App.Run) and hands it to every open feed.
type sampler struct {
	a        *App
	mu       sync.Mutex
	ring     []json.RawMessage
	prev     *figures
	watchers map[chan []byte]struct{}
}

func newSampler(a *App) *sampler {
	return &sampler{a: a, ring: []json.RawMessage{}, watchers: map[chan []byte]struct{}{}}
}

func (s *sampler) sample() {
	f := s.collect()
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.prev; p != nil {
		if dt := float64(f.Time-p.Time) / 1000; dt > 0 {
			f.PubRate = (f.PubTotal - p.PubTotal) / dt
			f.DelivRate = (f.DelivTotal - p.DelivTotal) / dt
		}
	}
	s.prev = f
	b, _ := json.Marshal(f)
	s.ring = append(s.ring, b)
	if len(s.ring) > historyLen {
		s.ring = s.ring[len(s.ring)-historyLen:]
	}
	for ch := range s.watchers {
		select {
		case ch <- b:
		default: // that feed is behind: it gets the next sample
		}
	}
}

// watch returns the samples to come, the first being every sample kept (a JSON array), and
// the function that stops them.
func (s *sampler) watch() (<-chan []byte, func()) {
	ch := make(chan []byte, 2)
	s.mu.Lock()
	hist, _ := json.Marshal(s.ring)
	ch <- hist
	s.watchers[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.watchers, ch)
		s.mu.Unlock()
	}
}

func (s *sampler) collect() *figures {
	a := s.a
	f := &figures{
		Time: time.Now().UnixMilli(), Version: a.version, UptimeS: int64(time.Since(a.started) / time.Second),
		Store: string(a.db.Dialect), Broker: "memory", Connections: a.reg.Counts(),
		Disconnects: map[string]int64{}, Refused: map[string]int64{}, Goroutines: runtime.NumGoroutine(),
	}
	if b := a.node.Broker; b != "" && b != "memory" {
		f.Broker = "nats"
	}
	f.Nodes = a.hub.Nodes()
	for _, c := range f.Connections {
		f.ConnTotal += c.N
	}
	fams, err := metrics.Registry.Gather()
	if err != nil {
		a.log.Warn("gather metrics", "err", err)
	}
	for _, fam := range fams {
		switch fam.GetName() {
		case "switchboard_channels": // the hub's gauge: no list of every channel each second
			f.Channels = int(sum(fam.GetMetric()))
		case "switchboard_publications_total":
			f.PubTotal = sum(fam.GetMetric())
		case "switchboard_deliveries_total":
			f.DelivTotal = sum(fam.GetMetric())
		case "switchboard_disconnects_total":
			byLabel(fam.GetMetric(), "reason", f.Disconnects)
		case "switchboard_refused_total":
			byLabel(fam.GetMetric(), "limit", f.Refused)
		case "switchboard_http_request_duration_seconds":
			for _, m := range fam.GetMetric() {
				if strings.HasPrefix(label(m, "code"), "5") {
					f.Errors += int64(m.GetHistogram().GetSampleCount())
				}
			}
		case "go_memstats_heap_alloc_bytes":
			f.HeapBytes = uint64(sum(fam.GetMetric()))
		}
	}
	return f
}

func sum(ms []*dto.Metric) float64 {
	t := 0.0
	for _, m := range ms {
		t += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return t
}

func byLabel(ms []*dto.Metric, name string, into map[string]int64) {
	for _, m := range ms {
		into[label(m, name)] += int64(m.GetCounter().GetValue())
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
