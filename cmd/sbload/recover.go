package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// sbload recover -url n1,n2,n3 -subs 900 -rate 50 -kill-pid PID: the cost of recovery after a
// node dies. Subscribers (spread over the nodes) follow one channel with history while
// publications go to the nodes in turn; after -kill-after, sbload kills the given node process
// (SIGKILL: it must be one of the -url nodes, on this machine). Each client of that node
// reconnects to the next node and subscribes with `since`; the report says how long until
// all of them were back and recovered, and checks every client saw every offset once.

// RecoverReport is what a recover run measured.
type RecoverReport struct {
	Subs, Cut, Recovered, NotRecovered int
	Published, Failed                  int64
	Gaps, Duplicates                   int64
	Back                               []time.Duration // per cut client: kill → recovered subscribe
}

// Print writes the report for a person.
func (r RecoverReport) Print(w io.Writer) {
	fmt.Fprintf(w, "%d subscribers, %d published (%d failed while the node died)\n", r.Subs, r.Published, r.Failed)
	fmt.Fprintf(w, "%d cut off by the kill: %d recovered, %d not\n", r.Cut, r.Recovered, r.NotRecovered)
	if len(r.Back) > 0 {
		slices.Sort(r.Back)
		q := func(f float64) time.Duration { return r.Back[min(len(r.Back)-1, int(f*float64(len(r.Back))))] }
		fmt.Fprintf(w, "kill → back and recovered: p50 %s  p99 %s  all %s\n", q(.5).Round(time.Millisecond), q(.99).Round(time.Millisecond), r.Back[len(r.Back)-1].Round(time.Millisecond))
	}
	fmt.Fprintf(w, "offsets missed: %d, seen twice: %d\n", r.Gaps, r.Duplicates)
}

type recoverClient struct {
	g        int
	node     int
	last     uint64
	epoch    string
	gaps     int64
	dups     int64
	cut      bool
	back     time.Duration
	verdicts []bool
}

func runRecover(args []string) (RecoverReport, error) {
	fs := flag.NewFlagSet("recover", flag.ContinueOnError)
	urls := fs.String("url", "", "the cluster's node URLs, comma-separated (loopback only)")
	apiKey := fs.String("api-key", os.Getenv("SWITCHBOARD_API_KEY"), "server API key, to publish")
	subs := fs.Int("subs", 900, "subscribers (one process: at most 15000)")
	rate := fs.Float64("rate", 50, "publications per second")
	channel := fs.String("channel", "bench:recover", "channel (a namespace with history)")
	killPID := fs.Int("kill-pid", 0, "process id of the node to kill (one of -url)")
	killAfter := fs.Duration("kill-after", 5*time.Second, "when to kill it")
	duration := fs.Duration("duration", 15*time.Second, "how long to publish")
	if err := fs.Parse(args); err != nil {
		return RecoverReport{}, err
	}
	nodes := strings.Split(*urls, ",")
	for _, u := range nodes {
		if err := checkLoopback(u); err != nil {
			return RecoverReport{}, err
		}
	}
	switch {
	case len(nodes) < 2:
		return RecoverReport{}, errors.New("-url needs at least two nodes")
	case *killPID <= 0:
		return RecoverReport{}, errors.New("-kill-pid is required")
	case *subs <= 0 || *subs > 15000:
		return RecoverReport{}, errors.New("-subs must be 1 to 15000")
	case *duration > maxDuration || *killAfter >= *duration:
		return RecoverReport{}, fmt.Errorf("-kill-after must come before the end of -duration (at most %s)", maxDuration)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration+time.Minute)
	defer cancel()
	var killedAt atomic.Int64 // unix ns
	clients := make([]*recoverClient, *subs)
	var ready sync.WaitGroup
	var wg sync.WaitGroup
	var mu sync.Mutex // guards every client's fields
	for g := range clients {
		c := &recoverClient{g: g, node: g % len(nodes)}
		clients[g] = c
		ready.Add(1)
		wg.Go(func() { followChannel(ctx, c, nodes, *channel, &mu, &killedAt, ready.Done) })
	}
	ready.Wait()

	var rep RecoverReport
	rep.Subs = *subs
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	start := time.Now()
	for n := 0; time.Since(start) < *duration; n++ {
		<-tick.C
		if killedAt.Load() == 0 && time.Since(start) >= *killAfter {
			if err := syscall.Kill(*killPID, syscall.SIGKILL); err != nil {
				return rep, fmt.Errorf("kill %d: %w", *killPID, err)
			}
			killedAt.Store(time.Now().UnixNano())
		}
		if publishTo(client, nodes, n, *apiKey, *channel) {
			rep.Published++
		} else {
			rep.Failed++
		}
	}
	tick.Stop()
	time.Sleep(3 * time.Second) // the tail, and the last reconnections
	cancel()
	wg.Wait()
	for _, c := range clients {
		rep.Gaps += c.gaps
		rep.Duplicates += c.dups
		if !c.cut {
			continue
		}
		rep.Cut++
		if c.back > 0 {
			rep.Recovered++
			rep.Back = append(rep.Back, c.back)
		} else {
			rep.NotRecovered++
		}
	}
	return rep, nil
}

// publishTo publishes on node n mod len, or the next that answers.
func publishTo(client *http.Client, nodes []string, n int, key, channel string) bool {
	body := fmt.Sprintf(`{"channel":%q,"data":%d}`, channel, n)
	for i := range nodes {
		req, _ := http.NewRequest("POST", nodes[(n+i)%len(nodes)]+"/v1/api/publish", strings.NewReader(body))
		req.Header.Set("X-API-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return true
		}
	}
	return false
}

// followChannel keeps one subscriber on the channel until ctx ends: on a lost connection it
// moves to the next node and subscribes with its position.
func followChannel(ctx context.Context, c *recoverClient, nodes []string, channel string, mu *sync.Mutex, killedAt *atomic.Int64, ready func()) {
	k := c.g/perIP + 2
	d := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, byte(k>>16), byte(k>>8), byte(k))},
	}).DialContext}
	// ready is called once: on the first subscription, or when the client gives up (the run
	// ended first), so the run never waits for a client that cannot connect.
	ready = sync.OnceFunc(ready)
	defer ready()
	for ctx.Err() == nil {
		if conn, _, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(nodes[c.node], "http")+"/v1/ws", nil); err == nil {
			c.session(ctx, conn, channel, mu, killedAt, ready)
		}
		if ctx.Err() != nil {
			return
		}
		mu.Lock()
		if killedAt.Load() != 0 {
			c.cut = true
		}
		mu.Unlock()
		c.node = (c.node + 1) % len(nodes)
		time.Sleep(time.Duration(50+rand.IntN(100)) * time.Millisecond)
	}
}

// session subscribes (recovering when it has a position) and reads until the connection ends.
func (c *recoverClient) session(ctx context.Context, conn *websocket.Conn, channel string, mu *sync.Mutex, killedAt *atomic.Int64, ready func()) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sub := map[string]any{"channel": channel}
	mu.Lock()
	if c.epoch != "" {
		sub["since"] = map[string]any{"offset": c.last, "epoch": c.epoch}
	}
	mu.Unlock()
	cmd, _ := json.Marshal(map[string]any{"id": 2, "method": "subscribe", "params": sub})
	if err := conn.WriteMessage(websocket.TextMessage, append([]byte(`{"id":1,"method":"connect"}`+"\n"), cmd...)); err != nil {
		return
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		for line := range bytes.SplitSeq(data, []byte{'\n'}) {
			var f struct {
				ID     int    `json:"id"`
				Push   string `json:"push"`
				Offset uint64 `json:"offset"`
				Result *struct {
					Offset       uint64 `json:"offset"`
					Epoch        string `json:"epoch"`
					Recovered    *bool  `json:"recovered"`
					Publications []struct {
						Offset uint64 `json:"offset"`
					} `json:"publications"`
				} `json:"result"`
			}
			if json.Unmarshal(line, &f) != nil {
				continue
			}
			switch {
			case f.Push == "ping":
				_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"method":"pong"}`))
			case f.Push == "pub":
				mu.Lock()
				c.see(f.Offset)
				mu.Unlock()
			case f.ID == 2 && f.Result != nil:
				mu.Lock()
				for _, p := range f.Result.Publications {
					c.see(p.Offset)
				}
				if f.Result.Recovered != nil {
					c.verdicts = append(c.verdicts, *f.Result.Recovered)
					if *f.Result.Recovered && c.cut && c.back == 0 {
						c.back = time.Duration(time.Now().UnixNano() - killedAt.Load())
					}
				}
				if c.epoch != f.Result.Epoch {
					c.epoch, c.last = f.Result.Epoch, f.Result.Offset
				}
				mu.Unlock()
				ready()
			}
		}
	}
}

// see records one offset: the next one, a repeat or one after a hole.
func (c *recoverClient) see(off uint64) {
	switch {
	case off <= c.last:
		c.dups++
	case off > c.last+1 && c.epoch != "":
		c.gaps += int64(off - c.last - 1)
		c.last = off
	default:
		c.last = off
	}
}
