package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The stream mode: one signed-in sender streams moves at -rate to -viewers WebSocket viewers
// of one stream (api.twizzle.net's surface); it measures deliveries/s and send→receive
// latency. It signs in through its own stand-in OAuth provider on -oauth-addr, where
// examples/load.json points the server.
//
//	sbload stream -viewers 1000 -rate 20 -duration 10s

// StreamReport is what one stream run measured.
type StreamReport struct {
	Viewers int
	Rate    float64
	Sent    int64
	Delivery
}

// Print writes the report for a person.
func (r StreamReport) Print(w io.Writer) {
	fmt.Fprintf(w, "one sender, %d viewers: sent %d moves at %.0f/s\n", r.Viewers, r.Sent, r.Rate)
	r.print(w, "moves", "send→receive")
}

// fakeProvider answers the server's token exchange and profile read for one test account.
func fakeProvider(addr, secret string) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Form.Get("client_secret") != secret {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad secret"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"load","token_type":"Bearer","expires_in":7200,"scope":"public","created_at":1}`))
	})
	mux.HandleFunc("GET /api/v0/me", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"me":{"id":1,"wca_id":"2099LOAD01","name":"Load Sender"}}`))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("stand-in provider on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// signIn walks start → callback → claim and returns an access token.
func signIn(base string) (string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/v0/auth/wca/start")
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("sign-in start: %d (is the server configured with examples/load.json?)", resp.StatusCode)
	}
	resp, err = c.Get(base + "/v0/auth/wca/oauth_callback?code=load&state=" + url.QueryEscape(loc.Query().Get("state")))
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	app, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("sign-in callback: %d", resp.StatusCode)
	}
	var session struct {
		Token string `json:"twizzleAccessToken"`
	}
	err = postJSON(&http.Client{Timeout: 10 * time.Second}, base+"/v0/claim?claimToken="+app.Query().Get("claimToken"), "", &session)
	return session.Token, err
}

// sentMarker precedes the send time the sender puts in every move.
var sentMarker = []byte(`"sentNs":`)

func sentNs(msg []byte) int64 {
	i := bytes.Index(msg, sentMarker)
	if i < 0 {
		return 0
	}
	rest := msg[i+len(sentMarker):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, _ := strconv.ParseInt(string(rest[:j]), 10, 64)
	return n
}

func runStream(args []string) (StreamReport, error) {
	fs := flag.NewFlagSet("stream", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	viewers := fs.Int("viewers", 1000, "viewer sockets")
	rate := fs.Float64("rate", 20, "moves per second")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	oauthAddr := fs.String("oauth-addr", "127.0.0.1:18999", "where to run the stand-in OAuth provider")
	secret := fs.String("oauth-secret", "sbload-secret", "the client secret the server sends it")
	if err := fs.Parse(args); err != nil {
		return StreamReport{}, err
	}
	if err := checkLoopback(*base); err != nil {
		return StreamReport{}, err
	}
	if err := checkLoopback("http://" + *oauthAddr); err != nil {
		return StreamReport{}, err
	}
	if *duration > maxDuration || *duration <= 0 || *viewers <= 0 || *viewers > 15000 || *rate <= 0 {
		return StreamReport{}, fmt.Errorf("-duration in (0, %s], -viewers 1..15000, -rate positive", maxDuration)
	}
	prov, err := fakeProvider(*oauthAddr, *secret)
	if err != nil {
		return StreamReport{}, err
	}
	defer prov.Close()
	token, err := signIn(*base)
	if err != nil {
		return StreamReport{}, err
	}
	var created struct{ Stream struct{ StreamID string } }
	if err := postJSON(&http.Client{Timeout: 10 * time.Second}, *base+"/v0/streams?twizzleAccessToken="+token, "", &created); err != nil {
		return StreamReport{}, err
	}
	wsBase := strings.Replace(*base, "http", "ws", 1) + "/v0/streams/" + created.Stream.StreamID + "/socket"

	var liveViewers atomic.Int64
	var col collector
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, *viewers)
	for i := range conns {
		d := websocket.Dialer{NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/perIP/250), byte(1+i/perIP%250))}}).DialContext, HandshakeTimeout: 10 * time.Second}
		c, _, err := d.Dial(wsBase, nil)
		if err != nil {
			return StreamReport{}, fmt.Errorf("viewer %d: %w", i, err)
		}
		conns[i] = c
		wg.Go(func() {
			live := false
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				now := time.Now()
				sent := sentNs(msg)
				if sent == 1 { // a marker: this viewer is subscribed
					if !live {
						live = true
						liveViewers.Add(1)
					}
					continue
				}
				if sent > 0 {
					col.got(now, sent)
				}
			}
		})
	}
	sender, _, err := websocket.DefaultDialer.Dial(wsBase+"?twizzleAccessToken="+token, nil)
	if err != nil {
		return StreamReport{}, err
	}
	defer sender.Close()
	// Viewers are live once a marker sent now reaches them all (a socket's subscription
	// follows its handshake).
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err := sender.WriteMessage(websocket.TextMessage, []byte(`{"event":"sync","data":{"sentNs":1}}`)); err != nil {
			return StreamReport{}, err
		}
		time.Sleep(100 * time.Millisecond)
		if liveViewers.Load() == int64(*viewers) {
			break
		}
		if time.Now().After(deadline) {
			return StreamReport{}, fmt.Errorf("only %d of %d viewers became live", liveViewers.Load(), *viewers)
		}
	}

	rep := StreamReport{Viewers: *viewers, Rate: *rate}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	defer tick.Stop()
	start := time.Now()
	families := []string{"R", "U", "F", "L", "B", "D"}
	for i := 0; ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
			move, _ := json.Marshal(map[string]any{"event": "move", "data": map[string]any{
				"latestMove": map[string]any{"family": families[i%6], "amount": 1, "type": "blockMove"},
				"timeStamp":  i, "binaryState": "00 00 00 00 00 00 00 00 00 10 00", "sentNs": time.Now().UnixNano()}})
			if err := sender.WriteMessage(websocket.TextMessage, move); err != nil {
				return rep, err
			}
			rep.Sent++
		}
	}
	rep.Delivery = col.finish(start, rep.Sent*int64(*viewers))
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	return rep, nil
}
