package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/internal/apps/signal"
)

// The signal mode measures offer/answer throughput on the rondevu-compatible surfaces: each
// of -concurrency pairs of peers runs complete exchanges back to back (offer → answer →
// a candidate each way → both read the other's → delete), and every HTTP request's latency
// is recorded.
//
//	sbload signal -gen g2 -concurrency 32 -duration 10s
//
// Start the server with examples/load.json: the default per-IP limits would refuse the load.

// SignalReport is what one signal run measured.
type SignalReport struct {
	Gen          string
	Concurrency  int
	Elapsed      time.Duration
	Exchanges    int64
	Requests     int64
	Failed       int64
	FirstError   string
	ReqPerSec    float64
	ExchPerSec   float64
	P50, P99     time.Duration
	Max          time.Duration
	PerOperation map[string][2]time.Duration // p50, p99
	// ServerTicks is the CPU (clock ticks) the -pid process used over the run, seeding left
	// out; -1 without -pid.
	ServerTicks int64
	// ClientTicks is this process's CPU (clock ticks) over the run: the load shares the
	// machine with the server, so its cost bounds the requests/s a fast server can show.
	ClientTicks int64
}

// Print writes the report for a person.
func (r SignalReport) Print(w io.Writer) {
	fmt.Fprintf(w, "%s: %d exchanges by %d peer pairs in %s, %d requests (%d failed)\n",
		r.Gen, r.Exchanges, r.Concurrency, r.Elapsed.Round(time.Millisecond), r.Requests, r.Failed)
	if r.FirstError != "" {
		fmt.Fprintf(w, "first failure: %s\n", r.FirstError)
	}
	if r.ServerTicks >= 0 {
		fmt.Fprintf(w, "server cpu ticks: %d\n", r.ServerTicks)
	}
	fmt.Fprintf(w, "client cpu ticks: %d\n", r.ClientTicks)
	fmt.Fprintf(w, "throughput: %.0f requests/s, %.0f offer/answer exchanges/s\n", r.ReqPerSec, r.ExchPerSec)
	fmt.Fprintf(w, "request latency: p50 %s  p99 %s  max %s\n", r.P50, r.P99, r.Max)
	ops := make([]string, 0, len(r.PerOperation))
	for op := range r.PerOperation {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	for _, op := range ops {
		fmt.Fprintf(w, "  %-18s p50 %-10s p99 %s\n", op, r.PerOperation[op][0], r.PerOperation[op][1])
	}
}

func runSignal(args []string) (SignalReport, error) {
	fs := flag.NewFlagSet("signal", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	gen := fs.String("gen", "g2", "API generation: g2 (register/offers, at /rondevu) or g4 (signed RPC, at /rondevu/v4)")
	conc := fs.Int("concurrency", 32, "peer pairs exchanging at once")
	duration := fs.Duration("duration", 10*time.Second, "how long to run")
	unrelated := fs.Int("unrelated", 0, "g2: live offers to create first on another topic (discovery must not slow with them)")
	discover := fs.Bool("discover", false, "g2: each pair publishes one offer, then only runs GET /offers/by-topic")
	pid := fs.Int("pid", 0, "the server's process: its CPU over the run (from /proc) is printed as \"server cpu ticks: N\"")
	client := fs.String("client", "light", `the pairs' HTTP client: "light" (one kept connection each, no Transport goroutines; see lighthttp.go) or "std" (net/http's Client)`)
	path := fs.String("path", "", `the API's path on the server: /rondevu for g2 and /rondevu/v4 for g4 unless given; "/" for a server that serves it at its root (the original rondevu-server)`)
	if err := fs.Parse(args); err != nil {
		return SignalReport{}, err
	}
	api := strings.TrimSuffix(*path, "/")
	if *path == "" {
		api = map[string]string{"g2": "/rondevu", "g4": "/rondevu/v4"}[*gen]
	}
	if err := checkLoopback(*base); err != nil {
		return SignalReport{}, err
	}
	u, err := url.Parse(*base)
	if err != nil || (*client != "light" && *client != "std") {
		return SignalReport{}, errors.New(`-url must be a URL and -client "light" or "std"`)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	clientFor := func(i int) doer { return pairClient(i, host, *client == "std") }
	if *duration > maxDuration || *duration <= 0 || *conc <= 0 {
		return SignalReport{}, fmt.Errorf("-duration must be in (0, %s] and -concurrency positive", maxDuration)
	}
	var newPair func(i int) (exchanger, error)
	switch *gen {
	case "g2":
		if err := seedUnrelated(*base+api, clientFor(999), *unrelated); err != nil {
			return SignalReport{}, err
		}
		newPair = func(i int) (exchanger, error) {
			p, err := newG2Pair(*base+api, clientFor(i))
			if err != nil || !*discover {
				return p, err
			}
			return p.discoverer()
		}
	case "g4":
		newPair = func(i int) (exchanger, error) { return newG4Pair(*base+api, clientFor(i)), nil }
	default:
		return SignalReport{}, errors.New("-gen must be g2 or g4")
	}
	rec := &recorder{ops: map[string][]time.Duration{}}
	pairs := make([]exchanger, *conc)
	for i := range pairs {
		p, err := newPair(i)
		if err != nil {
			return SignalReport{}, err
		}
		pairs[i] = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var exchanges atomic.Int64
	var wg sync.WaitGroup
	ticks0, err := cpuTicks(*pid)
	if err != nil {
		return SignalReport{}, err
	}
	own0, err := cpuTicks(os.Getpid())
	if err != nil {
		return SignalReport{}, err
	}
	start := time.Now()
	for _, p := range pairs {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := p.exchange(rec); err != nil {
					rec.fail(err)
					time.Sleep(10 * time.Millisecond) // a failing server is not hammered
					continue
				}
				exchanges.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	ticks1, err := cpuTicks(*pid)
	if err != nil {
		return SignalReport{}, err
	}
	own1, err := cpuTicks(os.Getpid())
	if err != nil {
		return SignalReport{}, err
	}
	for _, p := range pairs {
		if c, ok := p.(interface{ close() error }); ok {
			if err := c.close(); err != nil {
				return SignalReport{}, fmt.Errorf("clean up: %w", err)
			}
		}
	}
	rep := rec.report(*gen, *conc, elapsed, exchanges.Load())
	rep.ServerTicks = ticks1 - ticks0
	rep.ClientTicks = own1 - own0
	if *pid == 0 {
		rep.ServerTicks = -1
	}
	return rep, nil
}

// cpuTicks is the user and system CPU of process pid, in clock ticks (/proc/PID/stat); 0 for
// pid 0.
func cpuTicks(pid int) (int64, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("-pid: %w", err)
	}
	// The fields after the command's closing parenthesis: state is the first, utime the 12th.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("-pid: /proc/%d/stat: unexpected format", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("-pid: /proc/%d/stat: %w", pid, err)
	}
	return u + s, nil
}

// recorder collects request latencies by operation.
type recorder struct {
	mu       sync.Mutex
	ops      map[string][]time.Duration
	failed   int64
	firstErr string
}

func (r *recorder) add(op string, d time.Duration) {
	r.mu.Lock()
	r.ops[op] = append(r.ops[op], d)
	r.mu.Unlock()
}

func (r *recorder) fail(err error) {
	r.mu.Lock()
	r.failed++
	if r.firstErr == "" {
		r.firstErr = err.Error()
	}
	r.mu.Unlock()
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func (r *recorder) report(gen string, conc int, elapsed time.Duration, exchanges int64) SignalReport {
	rep := SignalReport{Gen: gen, Concurrency: conc, Elapsed: elapsed, Exchanges: exchanges, Failed: r.failed,
		FirstError: r.firstErr, PerOperation: map[string][2]time.Duration{}}
	var all []time.Duration
	for op, ds := range r.ops {
		slices.Sort(ds)
		rep.PerOperation[op] = [2]time.Duration{percentile(ds, 0.5), percentile(ds, 0.99)}
		all = append(all, ds...)
	}
	slices.Sort(all)
	rep.Requests = int64(len(all)) + r.failed
	rep.P50, rep.P99 = percentile(all, 0.5), percentile(all, 0.99)
	if len(all) > 0 {
		rep.Max = all[len(all)-1]
	}
	rep.ReqPerSec = float64(len(all)) / elapsed.Seconds()
	rep.ExchPerSec = float64(exchanges) / elapsed.Seconds()
	return rep
}

// exchanger runs one complete offer/answer exchange.
type exchanger interface {
	exchange(rec *recorder) error
}

// pairClient is one pair's HTTP client, dialling from its own 127.0.0.x address so that
// per-IP limits see separate clients: a lightConn (lighthttp.go) unless std asks for
// net/http's Client. addr is the server's host:port.
func pairClient(i int, addr string, std bool) doer {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/250), byte(1+i%250))}
	d := &net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}
	if !std {
		return newLightConn(func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }, 10*time.Second)
	}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// send makes one request, records its latency under op and decodes a 200 answer into out.
func send(c doer, rec *recorder, op, method, url string, body any, header http.Header, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", op, resp.StatusCode, bytes.TrimSpace(b))
	}
	rec.add(op, time.Since(start))
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return nil
}

// offerSDP is an offer-sized SDP, a new one each call: the original G2 server derives an
// offer's id from its SDP and topics, so two equal offers would collide there (a 500).
func offerSDP() string {
	return loadSDP + "a=x-load:" + sdpRun + strconv.FormatInt(sdpSeq.Add(1), 36) + "\r\n"
}

var (
	sdpRun = strconv.FormatInt(time.Now().UnixNano(), 36) + "-" // runs against one server differ
	sdpSeq atomic.Int64
)

// loadSDP is the common part of offerSDP, and an answer's SDP (real ones are 1–5 KB).
var loadSDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
	string(bytes.Repeat([]byte("a=x-padding:0123456789abcdef0123456789abcdef\r\n"), 30))

var loadCandidate = map[string]any{"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}

// g2Pair is two registered G2 peers.
type g2Pair struct {
	c           doer
	base        string
	host, guest http.Header
}

func newG2Pair(base string, c doer) (*g2Pair, error) {
	p := &g2Pair{c: c, base: base}
	rec := &recorder{ops: map[string][]time.Duration{}}
	for _, h := range []*http.Header{&p.host, &p.guest} {
		var cred struct{ PeerID, Secret string }
		if err := send(p.c, rec, "register", "POST", base+"/register", nil, nil, &cred); err != nil {
			return nil, err
		}
		*h = http.Header{"Authorization": {"Bearer " + cred.PeerID + ":" + cred.Secret}}
	}
	return p, nil
}

func (p *g2Pair) exchange(rec *recorder) error {
	var created struct{ Offers []struct{ ID string } }
	offer := map[string]any{"offers": []any{map[string]any{"sdp": offerSDP(), "topics": []string{"load"}, "ttl": 60000}}}
	if err := send(p.c, rec, "offer", "POST", p.base+"/offers", offer, p.host, &created); err != nil {
		return err
	}
	id := created.Offers[0].ID
	path := p.base + "/offers/" + id
	cands := map[string]any{"candidates": []any{loadCandidate}}
	steps := []struct {
		op, method, url string
		body            any
		who             http.Header
	}{
		{"answer", "POST", path + "/answer", map[string]any{"sdp": loadSDP}, p.guest},
		{"candidates", "POST", path + "/ice-candidates", cands, p.host},
		{"candidates", "POST", path + "/ice-candidates", cands, p.guest},
		{"read candidates", "GET", path + "/ice-candidates?since=0", nil, p.host},
		{"read candidates", "GET", path + "/ice-candidates?since=0", nil, p.guest},
		{"delete", "DELETE", path, nil, p.host},
	}
	for _, s := range steps {
		if err := send(p.c, rec, s.op, s.method, s.url, s.body, s.who, nil); err != nil {
			return err
		}
	}
	return nil
}

// seedUnrelated creates n live offers on a topic nobody looks for, 100 per request and 1,000
// per peer (rondevu's defaults).
func seedUnrelated(base string, c doer, n int) error {
	rec := &recorder{ops: map[string][]time.Duration{}}
	var h http.Header
	for made := 0; made < n; made += 100 {
		if made%1000 == 0 {
			var cred struct{ PeerID, Secret string }
			if err := send(c, rec, "register", "POST", base+"/register", nil, nil, &cred); err != nil {
				return err
			}
			h = http.Header{"Authorization": {"Bearer " + cred.PeerID + ":" + cred.Secret}}
		}
		batch := make([]any, min(100, n-made))
		for i := range batch {
			batch[i] = map[string]any{"sdp": offerSDP(), "topics": []string{"unrelated"}, "ttl": 3_600_000}
		}
		if err := send(c, rec, "seed", "POST", base+"/offers", map[string]any{"offers": batch}, h, nil); err != nil {
			return err
		}
	}
	return nil
}

// g2Discoverer only looks for offers: its host published one on the topic once, and deletes
// it when the run ends (so every run finds the same number).
type g2Discoverer struct {
	*g2Pair
	offer string
}

func (p *g2Pair) discoverer() (exchanger, error) {
	rec := &recorder{ops: map[string][]time.Duration{}}
	var created struct{ Offers []struct{ ID string } }
	offer := map[string]any{"offers": []any{map[string]any{"sdp": offerSDP(), "topics": []string{"load"}, "ttl": 3_600_000}}}
	if err := send(p.c, rec, "offer", "POST", p.base+"/offers", offer, p.host, &created); err != nil {
		return nil, err
	}
	return &g2Discoverer{p, created.Offers[0].ID}, nil
}

func (p *g2Discoverer) exchange(rec *recorder) error {
	return send(p.c, rec, "by-topic", "GET", p.base+"/offers/by-topic/load?limit=10", nil, p.guest, nil)
}

func (p *g2Discoverer) close() error {
	rec := &recorder{ops: map[string][]time.Duration{}}
	return send(p.c, rec, "delete", "DELETE", p.base+"/offers/"+p.offer, nil, p.host, nil)
}

// g4Pair is two G4 identities.
type g4Pair struct {
	c           doer
	url         string
	host, guest ed25519.PrivateKey
	since       int64
}

func newG4Pair(base string, c doer) *g4Pair {
	_, h, _ := ed25519.GenerateKey(rand.Reader)
	_, g, _ := ed25519.GenerateKey(rand.Reader)
	return &g4Pair{c: c, url: base + "/rpc", host: h, guest: g}
}

// rpc makes one signed call.
func (p *g4Pair) rpc(rec *recorder, key ed25519.PrivateKey, method string, params map[string]any, out any) error {
	canon, err := signal.CanonicalJSON(jsonRoundTrip(params))
	if err != nil {
		return err
	}
	var n [16]byte
	_, _ = rand.Read(n[:])
	n[6], n[8] = n[6]&0x0f|0x40, n[8]&0x3f|0x80
	nonce := fmt.Sprintf("%x-%x-%x-%x-%x", n[0:4], n[4:6], n[6:8], n[8:10], n[10:16])
	ts := time.Now().UnixMilli()
	sig := ed25519.Sign(key, []byte(strconv.FormatInt(ts, 10)+":"+nonce+":"+method+":"+canon))
	call := []any{map[string]any{"method": method, "params": params, "auth": map[string]any{
		"publicKey": hex.EncodeToString(key.Public().(ed25519.PublicKey)), "timestamp": ts, "nonce": nonce,
		"signature": base64.StdEncoding.EncodeToString(sig)}}}
	var res []struct {
		Success bool
		Result  json.RawMessage
		Error   string
	}
	if err := send(p.c, rec, method, "POST", p.url, call, nil, &res); err != nil {
		return err
	}
	if len(res) != 1 || !res[0].Success {
		return fmt.Errorf("%s: %+v", method, res)
	}
	if out != nil {
		return json.Unmarshal(res[0].Result, out)
	}
	return nil
}

// jsonRoundTrip gives params the shape the server parses them into (numbers as float64).
func jsonRoundTrip(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func (p *g4Pair) exchange(rec *recorder) error {
	var pub struct{ Offers []struct{ OfferID string } }
	err := p.rpc(rec, p.host, "publishOffer", map[string]any{"tags": []string{"load"}, "offers": []any{map[string]any{"sdp": offerSDP()}}, "ttl": 60000}, &pub)
	if err != nil {
		return err
	}
	id := pub.Offers[0].OfferID
	cands := map[string]any{"offerId": id, "candidates": []any{loadCandidate}}
	if err := p.rpc(rec, p.guest, "answerOffer", map[string]any{"offerId": id, "sdp": loadSDP, "matchedTags": []string{"load"}}, nil); err != nil {
		return err
	}
	if err := p.rpc(rec, p.host, "addIceCandidates", cands, nil); err != nil {
		return err
	}
	if err := p.rpc(rec, p.guest, "addIceCandidates", cands, nil); err != nil {
		return err
	}
	var polled struct {
		Answers       []struct{ AnsweredAt int64 }
		IceCandidates map[string][]struct{ CreatedAt int64 }
	}
	if err := p.rpc(rec, p.host, "poll", map[string]any{"since": p.since}, &polled); err != nil {
		return err
	}
	for _, cs := range polled.IceCandidates {
		for _, c := range cs {
			p.since = max(p.since, c.CreatedAt)
		}
	}
	if err := p.rpc(rec, p.guest, "getIceCandidates", map[string]any{"offerId": id, "since": 0}, nil); err != nil {
		return err
	}
	return p.rpc(rec, p.host, "deleteOffer", map[string]any{"offerId": id}, nil)
}
