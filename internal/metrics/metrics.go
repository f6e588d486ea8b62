// Package metrics holds Switchboard's Prometheus collectors, registered once in Registry.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// Registry is what /metrics serves: these collectors plus the Go and process collectors.
var Registry = prometheus.NewRegistry()

var (
	// Connections counts open realtime connections by transport (ws, sse, …).
	Connections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "switchboard_connections", Help: "Open realtime connections.",
	}, []string{"transport"})
	// Channels counts channels with at least one local subscriber.
	Channels = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "switchboard_channels", Help: "Channels with local subscribers.",
	})
	// Publications counts publications delivered to this node.
	Publications = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_publications_total", Help: "Publications received by this node for fan-out.",
	})
	// Deliveries counts events handed to local subscribers.
	Deliveries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_deliveries_total", Help: "Events queued to local subscribers.",
	})
	// Disconnects counts server-side disconnects by reason (slow, no_pong, shutdown, …).
	Disconnects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_disconnects_total", Help: "Connections closed by the server, by reason.",
	}, []string{"reason"})
	// Refused counts connections and requests refused by a limit.
	Refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_refused_total", Help: "Connections, commands and requests refused by a limit.",
	}, []string{"limit"})
	// HTTPDuration observes HTTP handling time by route pattern and status code.
	HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "switchboard_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "code"})
	// Broker counts what a cluster engine had to repair or retry: "cas_conflict" (two nodes
	// published to one channel at once), "refilled" (a publication arrived out of order or
	// was missed, and was fetched from the stream), "lost" (it was no longer there: the hub
	// declares a gap), "slow" (NATS dropped messages for this node).
	Broker = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_broker_events_total", Help: "Cluster broker repairs and retries, by kind.",
	}, []string{"kind"})
)

func init() {
	Registry.MustRegister(Connections, Channels, Publications, Deliveries, Disconnects, Refused, HTTPDuration, Broker,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Value is the current value of one counter or gauge (a series of a vector, as
// WithLabelValues returns it), for figures the server shows itself and for tests.
func Value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return 0
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}
