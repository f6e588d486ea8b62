package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/node"
	"github.com/switchboard/switchboard/internal/node/nodetest"
)

// TestMain lets the test binary serve as sbload's worker process.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "worker" {
		if err := runWorker(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startServer runs a node as examples/load.json configures it, on a random loopback port.
func startServer(t *testing.T) string {
	t.Helper()
	cfg, _, err := node.LoadConfig([]string{"-config", "../../examples/load.json", "-data", t.TempDir()}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return nodetest.Start(t, cfg).URL
}

func TestModes(t *testing.T) {
	url := startServer(t)
	key := "-api-key=load-test-key"
	t.Run("idle", func(t *testing.T) {
		rep, err := runParent("idle", []string{"-url", url, "-conns", "30", "-procs", "2", "-settle", "10ms", "-duration", "0"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Procs != 2 || rep.ServerConns < 30 || rep.RSSAfter <= 0 || rep.ClosedByServer != 0 {
			t.Fatalf("report %+v", rep)
		}
		var b strings.Builder
		rep.Print(&b)
		if !strings.Contains(b.String(), "KB per idle connection") {
			t.Fatalf("printed %q", b.String())
		}
	})
	t.Run("fanout", func(t *testing.T) {
		rep, err := runParent("fanout", []string{"-url", url, key, "-subs", "20", "-procs", "2", "-rate", "40", "-duration", "500ms"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Published == 0 || rep.Failed != 0 || rep.Received != rep.Expected || rep.DeliveriesPerSec <= 0 {
			t.Fatalf("every publication must reach every subscriber: %+v", rep)
		}
	})
	t.Run("latency", func(t *testing.T) {
		rep, err := runParent("latency", []string{"-url", url, key, "-subs", "10", "-rate", "40", "-duration", "500ms"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Samples == 0 || int64(rep.Samples) != rep.Received || rep.P50 > rep.P99 || rep.P99 > rep.Max {
			t.Fatalf("report %+v", rep)
		}
	})
	for _, gen := range []string{"g2", "g4"} {
		t.Run("signal "+gen, func(t *testing.T) {
			rep, err := runSignal([]string{"-url", url, "-gen", gen, "-concurrency", "3", "-duration", "300ms"})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Exchanges == 0 || rep.Failed != 0 || rep.P50 > rep.P99 || rep.P99 > rep.Max || len(rep.PerOperation) < 5 {
				t.Fatalf("report %+v", rep)
			}
			var b strings.Builder
			rep.Print(&b)
			if !strings.Contains(b.String(), "exchanges/s") {
				t.Fatalf("printed %q", b.String())
			}
		})
	}
	t.Run("signal discover", func(t *testing.T) {
		// The API's path given (as for an original rondevu-server at its root), this
		// process's CPU measured, and the discoverers' offers deleted when the run ends.
		rep, err := runSignal([]string{"-url", url, "-path", "/rondevu/", "-discover", "-unrelated", "150",
			"-concurrency", "3", "-duration", "300ms", "-pid", strconv.Itoa(os.Getpid())})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Exchanges == 0 || rep.Failed != 0 || rep.ServerTicks < 0 || rep.ClientTicks < 0 || len(rep.PerOperation) != 1 {
			t.Fatalf("report %+v", rep)
		}
		for topic, want := range map[string]int{"load": 0, "unrelated": 150} {
			resp, err := http.Get(url + "/rondevu/offers/by-topic/" + topic)
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Total int }
			err = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if err != nil || got.Total != want {
				t.Fatalf("%s: %d live offers (%v), want %d", topic, got.Total, err, want)
			}
		}
		if a, b := offerSDP(), offerSDP(); a == b {
			t.Fatal("two offers with one SDP: the original rondevu-server gives them one id")
		}
	})
	t.Run("chat", func(t *testing.T) {
		rep, err := runChat([]string{"-url", url, "-users", "6", "-channels", "2", "-rate", "40", "-duration", "300ms"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Posted == 0 || rep.Failed != 0 || rep.Received != rep.Expected || rep.Expected != rep.Posted*6 || rep.Samples != int(rep.Received) {
			t.Fatalf("every post must reach every user: %+v", rep)
		}
	})
	t.Run("counter", func(t *testing.T) {
		rep, err := runCounter([]string{"-url", url, "-clickers", "5", "-rate", "30", "-duration", "300ms"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Sent == 0 || rep.CountedDelta != rep.Sent || rep.Received != rep.Expected || rep.Samples != int(rep.Received) {
			t.Fatalf("every click must be counted once and reach every clicker: %+v", rep)
		}
	})
	t.Run("stream", func(t *testing.T) {
		rep, err := runStream([]string{"-url", url, "-viewers", "8", "-rate", "40", "-duration", "300ms"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Sent == 0 || rep.Received != rep.Expected || rep.Samples != int(rep.Received) {
			t.Fatalf("every move must reach every viewer: %+v", rep)
		}
	})
	t.Run("refuses targets off this machine", func(t *testing.T) {
		if _, err := runParent("idle", []string{"-url", "http://10.0.0.1:8080"}); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("needs an API key to publish", func(t *testing.T) {
		if _, err := runParent("fanout", []string{"-url", url, "-subs", "2", "-api-key", ""}); err == nil {
			t.Fatal("no error without a key")
		}
	})
}

func TestSentAt(t *testing.T) {
	now := time.Now().UnixNano()
	line := []byte(fmt.Sprintf(`{"push":"pub","channel":"bench:load","offset":3,"time":1,"data":{"t":%d,"p":"xx"}}`, now))
	if got := sentAt(line); got != now {
		t.Fatalf("sentAt %d, want %d", got, now)
	}
	if sentAt([]byte(`{"push":"pub","data":{"x":1}}`)) != 0 {
		t.Fatal("a publication without a timestamp must give 0")
	}
}

// TestRecoverClientCountsOffsets: the recover mode's own bookkeeping finds holes and repeats.
func TestRecoverClientCountsOffsets(t *testing.T) {
	tests := []struct {
		name       string
		offsets    []uint64
		gaps, dups int64
	}{
		{"in order", []uint64{1, 2, 3}, 0, 0},
		{"a hole", []uint64{1, 2, 5}, 2, 0},
		{"a repeat", []uint64{1, 2, 2, 3}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &recoverClient{epoch: "e"}
			for _, off := range tt.offsets {
				c.see(off)
			}
			if c.gaps != tt.gaps || c.dups != tt.dups {
				t.Fatalf("gaps %d dups %d, want %d %d", c.gaps, c.dups, tt.gaps, tt.dups)
			}
		})
	}
}
