package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	sioclient "github.com/zishang520/socket.io/clients/socket/v3"
)

// The counter mode: -clickers socket.io connections at /api/socket.io click at -rate in
// total; every socket receives every click. It measures click→receive latency,
// deliveries/s, and whether the counters moved by exactly the clicks sent.
//
//	sbload counter -clickers 200 -rate 200 -duration 10s
//
// The default per-connection click limit is 50/s (bursts of 100): keep -rate/-clickers under it.

// CounterReport is what one counter run measured.
type CounterReport struct {
	Clickers     int
	Rate         float64
	Sent         int64
	CountedDelta int64 // click_count_total after minus before
	Delivery
}

// Print writes the report for a person.
func (r CounterReport) Print(w io.Writer) {
	fmt.Fprintf(w, "%d clickers sent %d clicks at %.0f/s; the total counter moved by %d\n", r.Clickers, r.Sent, r.Rate, r.CountedDelta)
	r.print(w, "`click` events", "click→receive")
}

func totalClicks(base string) (int64, error) {
	resp, err := http.Get(base + "/api/current_stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var s struct {
		Total int64 `json:"click_count_total"`
	}
	return s.Total, json.NewDecoder(resp.Body).Decode(&s)
}

func runCounter(args []string) (CounterReport, error) {
	fs := flag.NewFlagSet("counter", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	n := fs.Int("clickers", 200, "socket.io connections, each clicking")
	rate := fs.Float64("rate", 200, "clicks per second, in total")
	duration := fs.Duration("duration", 10*time.Second, "how long to click")
	if err := fs.Parse(args); err != nil {
		return CounterReport{}, err
	}
	if err := checkLoopback(*base); err != nil {
		return CounterReport{}, err
	}
	if *duration > maxDuration || *duration <= 0 || *n <= 0 || *n > 900 || *rate <= 0 {
		return CounterReport{}, fmt.Errorf("-duration in (0, %s], -clickers 1..900, -rate positive", maxDuration)
	}
	before, err := totalClicks(*base)
	if err != nil {
		return CounterReport{}, err
	}
	var col collector
	socks := make([]*sioclient.Socket, *n)
	ready := make(chan struct{}, *n)
	failed := make(chan error, *n)
	inflight := make(chan struct{}, 50)
	for i := range socks {
		inflight <- struct{}{}
		sock, err := dialSocketIO(*base, "/api/socket.io")
		if err != nil {
			return CounterReport{}, err
		}
		socks[i] = sock
		var once sync.Once
		_ = sock.On("stats", func(...any) { once.Do(func() { <-inflight; ready <- struct{}{} }) })
		_ = sock.On("click", func(a ...any) {
			now := time.Now()
			c, _ := a[0].(map[string]any)
			comment, _ := c["comment"].(string)
			sent, _ := strconv.ParseInt(strings.TrimPrefix(comment, "t"), 10, 64)
			col.got(now, sent)
		})
		connectSocketIO(sock, func(err error) { <-inflight; failed <- err })
	}
	defer func() {
		for _, s := range socks {
			s.Disconnect()
		}
	}()
	deadline := time.After(time.Minute)
	for i := range socks {
		select {
		case <-ready:
		case err := <-failed:
			return CounterReport{}, fmt.Errorf("socket %d of %d: %w", i+1, len(socks), err)
		case <-deadline:
			return CounterReport{}, fmt.Errorf("only %d of %d sockets connected within a minute", i, len(socks))
		}
	}
	rep := CounterReport{Clickers: *n, Rate: *rate}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	defer tick.Stop()
	start := time.Now()
	for i := 0; ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
			// Digits only, so nothing is stripped; 20 characters fit the 75 allowed.
			_ = socks[i%len(socks)].Emit("click", map[string]any{"user": "load" + strconv.Itoa(i%len(socks)), "comment": "t" + strconv.FormatInt(time.Now().UnixNano(), 10)})
			rep.Sent++
		}
	}
	rep.Delivery = col.finish(start, rep.Sent*int64(*n))
	// A click is counted once the server takes it, which its broadcast does not wait for:
	// the last ones may still be on their way when the deliveries are in (at most 10 s).
	for wait := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		after, err := totalClicks(*base)
		if err != nil {
			return rep, err
		}
		rep.CountedDelta = after - before
		if rep.CountedDelta >= rep.Sent || time.Now().After(wait) {
			return rep, nil
		}
	}
}
