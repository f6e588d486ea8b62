package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sioclient "github.com/zishang520/socket.io/clients/socket/v3"

	"github.com/switchboard/switchboard/internal/transport/sio/goclient"
)

// The chat mode: -users chat users, each with a socket.io connection (Engine.IO 4 over
// WebSocket) in one of -channels channels, post messages over REST at -rate in total; every
// identified socket receives every `post message`. It measures posts/s, deliveries/s and
// post→receive latency.
//
//	sbload chat -users 200 -channels 10 -rate 50 -duration 10s
//
// Start the server with examples/load.json (chat's login and post rate limits off).

// ChatReport is what one chat run measured.
type ChatReport struct {
	Users, Channels int
	Rate            float64
	Posted, Failed  int64
	FirstError      string
	Delivery
}

// Print writes the report for a person.
func (r ChatReport) Print(w io.Writer) {
	fmt.Fprintf(w, "%d users in %d channels; posted %d (%d failed) at %.0f/s\n", r.Users, r.Channels, r.Posted, r.Failed, r.Rate)
	if r.FirstError != "" {
		fmt.Fprintf(w, "first failure: %s\n", r.FirstError)
	}
	r.print(w, "`post message` events", "post→receive")
}

type chatUser struct {
	id    int64
	token string
	sock  *sioclient.Socket
}

func runChat(args []string) (ChatReport, error) {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	users := fs.Int("users", 200, "chat users, one socket each")
	channels := fs.Int("channels", 10, "channels the users spread over")
	rate := fs.Float64("rate", 50, "messages posted per second, in total")
	duration := fs.Duration("duration", 10*time.Second, "how long to post")
	if err := fs.Parse(args); err != nil {
		return ChatReport{}, err
	}
	if err := checkLoopback(*base); err != nil {
		return ChatReport{}, err
	}
	if *duration > maxDuration || *duration <= 0 || *users <= 0 || *channels <= 0 || *rate <= 0 || *users > 900 {
		return ChatReport{}, fmt.Errorf("-duration in (0, %s], -users 1..900, -channels and -rate positive", maxDuration)
	}
	chat := *base + "/chat"
	client := &http.Client{Timeout: 10 * time.Second}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	run := hex.EncodeToString(suffix[:])

	// Users, their tokens, and the channels.
	us := make([]*chatUser, *users)
	for i := range us {
		name := fmt.Sprintf("load%s%d", run, i)
		body := `{"username":"` + name + `","password":"load-password"}`
		var u struct{ ID int64 }
		if err := postJSON(client, chat+"/user", body, &u); err != nil {
			return ChatReport{}, err
		}
		var login struct {
			Token string `json:"token_value"`
		}
		if err := postJSON(client, chat+"/auth", body, &login); err != nil {
			return ChatReport{}, err
		}
		us[i] = &chatUser{id: u.ID, token: login.Token}
	}
	chIDs := make([]int64, *channels)
	for i := range chIDs {
		var c struct{ ID int64 }
		if err := postJSON(client, chat+"/channel?auth="+us[0].token, fmt.Sprintf(`{"title":"load %s %d","description":""}`, run, i), &c); err != nil {
			return ChatReport{}, err
		}
		chIDs[i] = c.ID
	}

	// Sockets: identify, join a channel, record every post's latency.
	var col collector
	joined := make(chan struct{}, len(us))
	var connErrs atomic.Int64
	var firstConnErr atomic.Value
	// At most 50 handshakes in flight: a burst of hundreds makes the client library time out.
	inflight := make(chan struct{}, 50)
	for i, u := range us {
		inflight <- struct{}{}
		var release sync.Once
		done := func() { release.Do(func() { <-inflight }) }
		sock, err := dialSocketIO(*base, "/chat/socket.io")
		if err != nil {
			return ChatReport{}, err
		}
		u.sock = sock
		ch := chIDs[i%len(chIDs)]
		_ = sock.On("identified", func(...any) { _ = sock.Emit("change channel", map[string]any{"id": ch}) })
		// Joined once a movement of its channel lists this user.
		var once sync.Once
		_ = sock.On("channel movement", func(a ...any) {
			m, _ := a[0].(map[string]any)
			users, _ := m["users"].([]any)
			if id, _ := m["channel_id"].(float64); int64(id) == ch && slices.Contains(users, any(float64(u.id))) {
				once.Do(func() { joined <- struct{}{} })
			}
		})
		connErr := func(a ...any) {
			done()
			connErrs.Add(1)
			firstConnErr.CompareAndSwap(nil, fmt.Sprint(a...))
		}
		_ = sock.On("connect_error", connErr)
		_ = sock.On("post message", func(a ...any) {
			now := time.Now()
			m, _ := a[0].(map[string]any)
			text, _ := m["message_text"].(string)
			sent, _ := strconv.ParseInt(strings.TrimPrefix(text, "t="), 10, 64)
			col.got(now, sent)
		})
		_ = sock.On("connect", func(...any) {
			done()
			_ = sock.Emit("identify", u.token)
		})
		connectSocketIO(sock, func(err error) { connErr(err) })
	}
	defer func() {
		for _, u := range us {
			u.sock.Disconnect()
		}
	}()
	deadline := time.After(time.Minute)
	for n := range us {
		select {
		case <-joined:
		case <-deadline:
			return ChatReport{}, fmt.Errorf("only %d of %d sockets identified and joined within a minute (%d connect errors, first: %v)",
				n, len(us), connErrs.Load(), firstConnErr.Load())
		}
	}

	// Post at the rate, round-robin over the users.
	rep := ChatReport{Users: *users, Channels: *channels, Rate: *rate}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	defer tick.Stop()
	var posted, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
			u, ch := us[i%len(us)], chIDs[i%len(us)%len(chIDs)]
			wg.Go(func() {
				body := fmt.Sprintf(`{"message_text":"t=%d","channel_id":%d}`, time.Now().UnixNano(), ch)
				if err := postJSON(client, chat+"/message?auth="+u.token, body, nil); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				posted.Add(1)
			})
		}
	}
	wg.Wait()
	rep.Posted, rep.Failed = posted.Load(), failed.Load()
	if e, ok := firstErr.Load().(string); ok {
		rep.FirstError = e
	}
	rep.Delivery = col.finish(start, rep.Posted*int64(*users))
	return rep, nil
}

// dialSocketIO makes a socket.io client (Engine.IO 4 over WebSocket) of path, not yet
// connected: the caller puts its handlers on, then calls connectSocketIO.
func dialSocketIO(base, path string) (*sioclient.Socket, error) {
	return goclient.New(base, goclient.Options{Path: path, Reconnect: true})
}

// connectSocketIO connects sock on its own goroutine (handshakes overlap), retrying a
// handshake that times out (seen at hundreds of sockets); a failure goes to fail.
func connectSocketIO(sock *sioclient.Socket, fail func(error)) {
	go func() {
		if err := goclient.Connect(sock, 3); err != nil {
			fail(err)
		}
	}()
}

// Delivery is what a run's receivers saw.
type Delivery struct {
	Expected, Received int64
	Elapsed            time.Duration // first send to last receipt
	DeliveriesPerSec   float64
	Samples            int
	P50, P95, P99, Max time.Duration
}

// print writes the delivery lines of a report; what names the events.
func (d Delivery) print(w io.Writer, what, path string) {
	fmt.Fprintf(w, "received %d of %d %s (%.2f%%): %.0f deliveries/s over %s\n",
		d.Received, d.Expected, what, 100*float64(d.Received)/float64(max(d.Expected, 1)), d.DeliveriesPerSec, d.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "%s latency over %d samples: p50 %s  p95 %s  p99 %s  max %s\n", path, d.Samples, d.P50, d.P95, d.P99, d.Max)
}

// collector counts receipts and their latencies from many goroutines.
type collector struct {
	received, last atomic.Int64
	mu             sync.Mutex
	lat            []time.Duration
}

// got records one receipt at now of something sent at sent (unix ns; 0 = unknown).
func (c *collector) got(now time.Time, sent int64) {
	if sent > 0 {
		c.mu.Lock()
		c.lat = append(c.lat, now.Sub(time.Unix(0, sent)))
		c.mu.Unlock()
	}
	c.received.Add(1)
	c.last.Store(now.UnixNano())
}

// finish waits (at most 10 s) for the expected receipts and summarises them.
func (c *collector) finish(start time.Time, expected int64) Delivery {
	for wait := time.Now().Add(10 * time.Second); c.received.Load() < expected && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
	}
	d := Delivery{Expected: expected, Received: c.received.Load(), Elapsed: time.Unix(0, c.last.Load()).Sub(start)}
	if d.Elapsed > 0 {
		d.DeliveriesPerSec = float64(d.Received) / d.Elapsed.Seconds()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	slices.Sort(c.lat)
	d.Samples = len(c.lat)
	d.P50, d.P95, d.P99 = percentile(c.lat, 0.5), percentile(c.lat, 0.95), percentile(c.lat, 0.99)
	if len(c.lat) > 0 {
		d.Max = c.lat[len(c.lat)-1]
	}
	return d
}

// postJSON posts body and decodes a 200 answer into out; an {"error"} answer is an error.
func postJSON(c *http.Client, url, body string, out any) error {
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.HasPrefix(string(b), `{"error"`) {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
