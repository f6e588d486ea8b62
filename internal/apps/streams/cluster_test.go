package streams_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/apps/streams"
	"github.com/switchboard/switchboard/internal/broker/natstest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

// consoleStream is a stream as the console's streams page gets it.
type consoleStream struct {
	StreamID    string `json:"streamID"`
	Viewers     int    `json:"viewers"`
	ViewersHere int    `json:"viewers_here"`
}

// consoleStreams reads one snapshot of the console's streams page (read-only on loopback).
func consoleStreams(t *testing.T, base string) []consoleStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/console/api/app/streams/feed", nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("streams feed: %d", r.StatusCode)
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			event = name
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok && event == "snapshot" {
			var snap struct{ Streams []consoleStream }
			if err := json.Unmarshal([]byte(data), &snap); err != nil {
				t.Fatalf("streams snapshot %s: %v", data, err)
			}
			return snap.Streams
		}
	}
	t.Fatalf("the feed ended before a snapshot (%v)", sc.Err())
	return nil
}

// waitViewers waits until the console of base shows stream id with viewers in all and here
// on base's node.
func waitViewers(t *testing.T, base, id string, all, here int) {
	t.Helper()
	deadline := time.Now().Add(guard)
	var last []consoleStream
	for time.Now().Before(deadline) {
		last = consoleStreams(t, base)
		if len(last) == 1 && last[0].StreamID == id && last[0].Viewers == all && last[0].ViewersHere == here {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("console of %s: want stream %s with %d viewers, %d here; have %+v", base, id, all, here, last)
}

// TestClusterViewers: on two nodes (one PostgreSQL, one NATS), each node's console counts a
// stream's viewers on both nodes, and a node that stops takes its viewers out of the count.
func TestClusterViewers(t *testing.T) {
	dsn, nats := storetest.PostgresDSN(t), natstest.URL(t)
	wca := newFakeWCA(t)
	cluster := func(c *config.Config) {
		c.Store, c.Broker = dsn, nats
		// The sweep that stores each node's counts runs every quarter of this.
		streams.Settings(*c).StreamTimeout = config.Duration(400 * time.Millisecond)
	}
	a, b := start(t, wca, cluster), start(t, wca, cluster)
	token, _ := login(t, a.URL, "good-1")
	var created struct{ Stream struct{ StreamID string } }
	_ = json.Unmarshal([]byte(do(t, &http.Client{Timeout: guard}, "POST", a.URL+"/v0/streams?twizzleAccessToken="+token).body), &created)
	id := created.Stream.StreamID
	if id == "" {
		t.Fatal("no stream created")
	}
	dial(t, a.URL, id, token) // the sender keeps the stream alive
	dial(t, a.URL, id, "")
	dial(t, b.URL, id, "")
	dial(t, b.URL, id, "")

	waitViewers(t, a.URL, id, 3, 1)
	waitViewers(t, b.URL, id, 3, 2)

	if err := b.Stop(); err != nil {
		t.Fatalf("stop the second node: %v", err)
	}
	// Stop returns after the node's modules have ended, so its counts are gone by now: read
	// once, not polled, as its rows would also drop out once stale (1.3 s after its last sweep).
	if got := consoleStreams(t, a.URL); len(got) != 1 || got[0].Viewers != 1 || got[0].ViewersHere != 1 {
		t.Fatalf("console of the node left, at once after the other stopped: want 1 viewer, 1 here; have %+v", got)
	}
}
