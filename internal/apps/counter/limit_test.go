package counter_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/apps/counter"
	"github.com/switchboard/switchboard/internal/node"
	"github.com/switchboard/switchboard/internal/node/nodetest"
	"github.com/switchboard/switchboard/internal/transport/sio/siotest"
)

// refusedClicks reads the count of clicks and events the rate limit dropped.
func refusedClicks(t *testing.T, base string) float64 {
	t.Helper()
	r, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, `switchboard_refused_total{limit="counter_click_rate"} `); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// TestClickRateDropsAreCounted: what the per-connection limit drops is counted in /metrics
// (abuse stays bounded, and visibly so). The rate here is tiny, so that exactly one click
// of the ten passes however slow the machine.
func TestClickRateDropsAreCounted(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	counter.Settings(cfg).ClickRate = 0.001 // burst 1
	n := nodetest.Start(t, cfg)
	before := refusedClicks(t, n.URL)

	// The raw client: events the instant the socket connects, and no client library's
	// scheduling in the way.
	c := siotest.Dial(t, n.URL+"/api/socket.io/")
	for range 10 {
		c.Send(`42["click",{"user":"Limit","comment":"","style":" "}]`)
	}
	// auth is not rate-limited, and a socket's events are handled in order: once the rename
	// is announced, every click before it has been let through or dropped.
	c.Send(`42["auth","Limit2"]`)
	for {
		p := c.Read()
		if p == "" {
			t.Fatal("the socket ended before the rename was announced")
		}
		if strings.Contains(p, `"Limit hat sich umbenannt zu Limit2."`) {
			break
		}
	}
	if got := refusedClicks(t, n.URL) - before; got != 9 {
		t.Fatalf("refused clicks counted %v, want 9", got)
	}
	for deadline := time.Now().Add(guard); stats(t, n.URL)["click_count_total"] != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stats %v, want the one click let through", stats(t, n.URL))
		}
	}
}
