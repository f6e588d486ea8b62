// Command sbload is Switchboard's load generator. It speaks the native API and measures:
//
//	sbload idle    -conns 15000            idle WebSocket connections: server RSS per connection
//	sbload fanout  -subs 10000 -rate 50    one channel to many subscribers: deliveries/s
//	sbload latency -subs 1000 -rate 100    publish→receive latency percentiles
//	sbload signal  -gen g2 -concurrency 32 offer/answer exchanges on the signaling API: req/s, p99
//	sbload chat    -users 200 -channels 10 -rate 50  chat users posting: deliveries/s, latency
//	sbload counter -clickers 200 -rate 200          live-counter clicks: deliveries/s, latency, exact counts
//	sbload stream  -viewers 1000 -rate 20           one twizzle sender, many viewers: deliveries/s, latency
//
//	sbload recover -url N1,N2,N3 -kill-pid PID     a node killed under load: time until its clients recovered
//
// Cluster mode: idle, fanout and latency take several node URLs, comma-separated, in -url.
// Subscribers are spread over the nodes in turn and publications are made on each node in
// turn, so every delivery crosses nodes as often as not; idle reports RSS per connection on
// each node.
//
// One process holds at most about 19,000 sockets here (ulimit -n is 20,000), so sbload starts
// worker processes (itself, with SBLOAD_ROLE=worker in the environment), each holding part of
// the connections, dialled from many 127.0.0.x source addresses so that per-IP limits and
// ephemeral ports are not exhausted. It only targets loopback addresses, runs for a bounded
// time and stops by itself.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// roleEnv marks a worker process; its arguments are then the worker's flags.
const roleEnv = "SBLOAD_ROLE"

func main() {
	if os.Getenv(roleEnv) == "worker" {
		if err := runWorker(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "sbload worker:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "idle", "fanout", "latency":
	case "signal", "chat", "counter", "stream", "recover":
		run := map[string]func([]string) (interface{ Print(io.Writer) }, error){
			"signal":  func(a []string) (interface{ Print(io.Writer) }, error) { return runSignal(a) },
			"chat":    func(a []string) (interface{ Print(io.Writer) }, error) { return runChat(a) },
			"counter": func(a []string) (interface{ Print(io.Writer) }, error) { return runCounter(a) },
			"stream":  func(a []string) (interface{ Print(io.Writer) }, error) { return runStream(a) },
			"recover": func(a []string) (interface{ Print(io.Writer) }, error) { return runRecover(a) },
		}[os.Args[1]]
		rep, err := run(os.Args[2:])
		if err != nil {
			fmt.Fprintln(os.Stderr, "sbload:", err)
			os.Exit(1)
		}
		rep.Print(os.Stdout)
		return
	default:
		usage()
	}
	rep, err := runParent(os.Args[1], os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbload:", err)
		os.Exit(1)
	}
	rep.Print(os.Stdout)
}

// Report is what one run measured.
type Report struct {
	Mode        string
	Conns       int
	Procs       int
	ConnectTime time.Duration

	// idle
	ServerConns    float64
	Goroutines     float64
	RSSBefore      float64 // bytes
	RSSAfter       float64
	RSSPerConn     float64   // bytes
	Nodes          []NodeMem // idle, in cluster mode
	HeapPerConn    float64
	StackPerConn   float64
	ClosedByServer int64

	// fanout, latency
	Rate             float64
	Size             int
	Published        int64
	Failed           int64
	Received         int64
	Expected         int64
	Elapsed          time.Duration // first publish to last receipt
	DeliveriesPerSec float64
	Samples          int
	P50, P95, P99    time.Duration
	Max              time.Duration
}

// NodeMem is one node's share of an idle run.
type NodeMem struct {
	URL        string
	Conns      float64
	RSSPerConn float64
}

// Print writes the report for a person.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "connected %d in %s over %d processes\n", r.Conns, r.ConnectTime.Round(time.Millisecond), r.Procs)
	if r.Mode == "idle" {
		fmt.Fprintf(w, "server: %.0f connections, %.0f goroutines\n", r.ServerConns, r.Goroutines)
		fmt.Fprintf(w, "server RSS %.1f MB → %.1f MB: %.1f KB per idle connection (heap %.1f KB, stacks %.1f KB)\n",
			r.RSSBefore/1e6, r.RSSAfter/1e6, r.RSSPerConn/1024, r.HeapPerConn/1024, r.StackPerConn/1024)
		for _, n := range r.Nodes {
			fmt.Fprintf(w, "  node %s: %.0f connections, %.1f KB RSS per connection\n", n.URL, n.Conns, n.RSSPerConn/1024)
		}
		fmt.Fprintf(w, "connections closed by the server during the hold: %d\n", r.ClosedByServer)
		return
	}
	fmt.Fprintf(w, "published %d (%d failed) at %.0f/s to %d subscribers, payload %d B\n", r.Published, r.Failed, r.Rate, r.Conns, r.Size)
	fmt.Fprintf(w, "received %d of %d (%.2f%%), %d subscribers cut off\n", r.Received, r.Expected, 100*float64(r.Received)/float64(max(r.Expected, 1)), r.ClosedByServer)
	if r.Mode == "fanout" {
		fmt.Fprintf(w, "deliveries/s: %.0f (over %s, first publish to last receipt)\n", r.DeliveriesPerSec, r.Elapsed.Round(time.Millisecond))
	}
	if r.Samples > 0 {
		fmt.Fprintf(w, "publish→receive latency over %d samples: p50 %s  p95 %s  p99 %s  max %s\n", r.Samples, r.P50, r.P95, r.P99, r.Max)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: sbload idle|fanout|latency|signal|chat|counter|stream|recover [flags]  (sbload MODE -h lists the flags)")
	os.Exit(2)
}

// perIP is how many connections share one source address (the server's default per-IP limit
// is 1000).
const perIP = 500

// maxDuration bounds any run: the tool always stops by itself.
const maxDuration = 5 * time.Minute

type parentFlags struct {
	url      string
	urls     []string // url split: a cluster's nodes
	apiKey   string
	conns    int
	procs    int
	rate     float64
	duration time.Duration
	size     int
	channel  string
	settle   time.Duration
}

func runParent(mode string, args []string) (Report, error) {
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	var p parentFlags
	fs.StringVar(&p.url, "url", "http://127.0.0.1:8080", "server base URL (loopback only); several, comma-separated, for a cluster's nodes")
	fs.StringVar(&p.apiKey, "api-key", os.Getenv("SWITCHBOARD_API_KEY"), "server API key, to publish")
	defConns := map[string]int{"idle": 15000, "fanout": 10000, "latency": 1000}[mode]
	fs.IntVar(&p.conns, "conns", defConns, "connections (subscribers)")
	fs.IntVar(&p.conns, "subs", defConns, "alias of -conns")
	fs.IntVar(&p.procs, "procs", 0, "worker processes (default: one per 5000 connections)")
	defRate := map[string]float64{"idle": 0, "fanout": 50, "latency": 100}[mode]
	fs.Float64Var(&p.rate, "rate", defRate, "publications per second")
	fs.DurationVar(&p.duration, "duration", 10*time.Second, "how long to publish (idle: how long to hold)")
	fs.IntVar(&p.size, "size", 100, "payload bytes per publication")
	fs.StringVar(&p.channel, "channel", "bench:load", "channel (use a namespace without presence and join/leave)")
	fs.DurationVar(&p.settle, "settle", 5*time.Second, "idle: wait after connecting before sampling memory")
	if err := fs.Parse(args); err != nil {
		return Report{}, err
	}
	p.urls = strings.Split(p.url, ",")
	for _, u := range p.urls {
		if err := checkLoopback(u); err != nil {
			return Report{}, err
		}
	}
	if p.duration > maxDuration {
		return Report{}, fmt.Errorf("-duration is capped at %s", maxDuration)
	}
	if p.conns <= 0 {
		return Report{}, errors.New("-conns must be positive")
	}
	if p.procs == 0 {
		p.procs = (p.conns + 4999) / 5000
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxDuration+2*time.Minute)
	defer cancel()

	before := make([]map[string]float64, len(p.urls))
	for i, u := range p.urls {
		before[i], _ = scrape(u)
	}
	workers, err := startWorkers(ctx, mode, p)
	if err != nil {
		return Report{}, err
	}
	defer func() {
		for _, w := range workers {
			w.cmd.Process.Kill()
		}
	}()
	start := time.Now()
	for _, w := range workers {
		if err := w.waitReady(); err != nil {
			return Report{}, err
		}
	}
	rep := Report{Mode: mode, Conns: p.conns, Procs: len(workers), ConnectTime: time.Since(start)}
	if mode == "idle" {
		return idleReport(rep, p, before, workers)
	}
	return publishReport(ctx, rep, p, workers)
}

func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address: sbload only loads this machine", u.Host)
	}
	return nil
}

type worker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startWorkers(ctx context.Context, mode string, p parentFlags) ([]*worker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var ws []*worker
	each := (p.conns + p.procs - 1) / p.procs
	for i, first := 0, 0; first < p.conns; i, first = i+1, first+each {
		n := min(each, p.conns-first)
		cmd := exec.CommandContext(ctx, self, "-url", p.url, "-mode", mode, "-conns", strconv.Itoa(n),
			"-first", strconv.Itoa(first), "-channel", p.channel)
		cmd.Stderr = os.Stderr
		// One core per worker unless told otherwise: on this 2-core box the clients would
		// otherwise compete with the server for every core, which no real deployment does.
		cmd.Env = append(os.Environ(), roleEnv+"=worker")
		if os.Getenv("GOMAXPROCS") == "" {
			cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
		}
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		ws = append(ws, &worker{cmd: cmd, stdin: stdin, out: sc})
	}
	return ws, nil
}

func (w *worker) waitReady() error {
	for w.out.Scan() {
		if strings.HasPrefix(w.out.Text(), "ready") {
			return nil
		}
		fmt.Println(w.out.Text())
	}
	return errors.New("a worker exited before it was ready")
}

// result is a worker's final line.
type result struct {
	Received  int64   `json:"received"`
	Closed    int64   `json:"closed"`
	LastRecv  int64   `json:"last_recv"` // unix ns of the last publication received
	Latencies []int64 `json:"latencies"` // µs, latency mode only
}

func (w *worker) finish() (result, error) {
	w.stdin.Close()
	var r result
	for w.out.Scan() {
		if err := json.Unmarshal(w.out.Bytes(), &r); err == nil {
			break
		}
	}
	return r, w.cmd.Wait()
}

func idleReport(rep Report, p parentFlags, before []map[string]float64, workers []*worker) (Report, error) {
	time.Sleep(p.settle)
	// A GC on the server (pprof's gc=1, when the server has pprof on), then time for the
	// scavenger, so RSS reflects what is live rather than garbage.
	for _, u := range p.urls {
		if resp, err := http.Get(u + "/debug/pprof/heap?gc=1"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	time.Sleep(p.settle)
	for i, u := range p.urls {
		after, err := scrape(u)
		if err != nil {
			return rep, err
		}
		conns := after[`switchboard_connections{transport="ws"}`]
		delta := func(k string) float64 { return after[k] - before[i][k] }
		rep.ServerConns += conns
		rep.Goroutines += after["go_goroutines"]
		rep.RSSBefore += before[i]["process_resident_memory_bytes"]
		rep.RSSAfter += after["process_resident_memory_bytes"]
		rep.HeapPerConn += delta("go_memstats_heap_inuse_bytes")
		rep.StackPerConn += delta("go_memstats_stack_inuse_bytes")
		if len(p.urls) > 1 {
			rep.Nodes = append(rep.Nodes, NodeMem{URL: u, Conns: conns, RSSPerConn: delta("process_resident_memory_bytes") / max(conns, 1)})
		}
	}
	n := float64(p.conns)
	rep.RSSPerConn = (rep.RSSAfter - rep.RSSBefore) / n
	rep.HeapPerConn /= n
	rep.StackPerConn /= n
	time.Sleep(p.duration)
	for _, w := range workers {
		r, err := w.finish()
		if err != nil {
			return rep, fmt.Errorf("worker: %w", err)
		}
		rep.ClosedByServer += r.Closed
	}
	return rep, nil
}

func publishReport(ctx context.Context, rep Report, p parentFlags, workers []*worker) (Report, error) {
	if p.apiKey == "" {
		return rep, errors.New("-api-key (or SWITCHBOARD_API_KEY) is needed to publish")
	}
	if p.rate <= 0 {
		return rep, errors.New("-rate must be positive")
	}
	pad := strings.Repeat("x", max(0, p.size-40))
	interval := time.Duration(float64(time.Second) / p.rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var published, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(p.duration)
	n := 0
	for now := range tick.C {
		if now.After(end) {
			break
		}
		node := p.urls[n%len(p.urls)]
		n++
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"channel":%q,"data":{"t":%d,"p":%q}}`, p.channel, time.Now().UnixNano(), pad)
			req, _ := http.NewRequestWithContext(ctx, "POST", node+"/v1/api/publish", strings.NewReader(body))
			req.Header.Set("X-API-Key", p.apiKey)
			resp, err := client.Do(req)
			if err != nil || resp.StatusCode != 200 {
				failed.Add(1)
				if resp != nil {
					resp.Body.Close()
				}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			published.Add(1)
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // let the tail arrive
	var total result
	for _, w := range workers {
		r, err := w.finish()
		if err != nil {
			return rep, fmt.Errorf("worker: %w", err)
		}
		total.Received += r.Received
		total.Closed += r.Closed
		total.LastRecv = max(total.LastRecv, r.LastRecv)
		total.Latencies = append(total.Latencies, r.Latencies...)
	}
	rep.Rate, rep.Size = p.rate, p.size
	rep.Published, rep.Failed = published.Load(), failed.Load()
	rep.Received, rep.ClosedByServer = total.Received, total.Closed
	rep.Expected = rep.Published * int64(p.conns)
	if total.LastRecv > 0 {
		rep.Elapsed = time.Duration(total.LastRecv - start.UnixNano())
		rep.DeliveriesPerSec = float64(total.Received) / rep.Elapsed.Seconds()
	}
	if lat := total.Latencies; len(lat) > 0 {
		slices.Sort(lat)
		q := func(f float64) time.Duration {
			i := int(math.Ceil(f*float64(len(lat)))) - 1
			return time.Duration(lat[max(i, 0)]) * time.Microsecond
		}
		rep.Samples = len(lat)
		rep.P50, rep.P95, rep.P99, rep.Max = q(.50), q(.95), q(.99), q(1)
	}
	return rep, nil
}

// scrape reads the server's /metrics into name{labels} → value.
func scrape(base string) (map[string]float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// runWorker holds its share of connections until its stdin closes, then prints its result.
func runWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	base := fs.String("url", "", "")
	mode := fs.String("mode", "", "")
	conns := fs.Int("conns", 0, "")
	first := fs.Int("first", 0, "")
	channel := fs.String("channel", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// In cluster mode connection g goes to node g mod n.
	var wsURLs []string
	localhost := true
	for _, u := range strings.Split(*base, ",") {
		wsURLs = append(wsURLs, "ws"+strings.TrimPrefix(u, "http")+"/v1/ws")
		host, _, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"))
		localhost = localhost && (host == "127.0.0.1" || host == "localhost")
	}

	var received, closed, lastRecv atomic.Int64
	var latMu sync.Mutex
	var lats []int64
	var conns_ []*websocket.Conn
	var mu sync.Mutex
	subscribe := *mode != "idle"

	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var dialErr atomic.Value
	for i := 0; i < *conns; i++ {
		g := *first + i
		d := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 1024}
		if localhost {
			// 127.0.0.2, .3, … (the whole of 127/8 is loopback): perIP connections each.
			k := g/perIP + 2
			src := net.IPv4(127, byte(k>>16), byte(k>>8), byte(k))
			d.NetDialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}).DialContext
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, _, err := d.Dial(wsURLs[g%len(wsURLs)], nil)
			if err != nil {
				dialErr.Store(err)
				return
			}
			cmds := `{"id":1,"method":"connect"}`
			if subscribe {
				cmds += "\n" + `{"id":2,"method":"subscribe","params":{"channel":"` + *channel + `"}}`
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte(cmds)); err != nil {
				dialErr.Store(err)
				return
			}
			// Wait for the replies, so "ready" means subscribed.
			want := 1
			if subscribe {
				want = 2
			}
			for got := 0; got < want; {
				_, data, err := c.ReadMessage()
				if err != nil {
					dialErr.Store(err)
					return
				}
				got += bytes.Count(data, []byte(`"id":`))
				if bytes.Contains(data, []byte(`"error"`)) {
					dialErr.Store(fmt.Errorf("server refused: %s", data))
					return
				}
			}
			mu.Lock()
			conns_ = append(conns_, c)
			mu.Unlock()
			go func() {
				// One buffer per connection, reused for every frame: the client should cost
				// as little CPU as it can, since it shares the machine with the server.
				buf := make([]byte, 0, 1024)
				for {
					_, r, err := c.NextReader()
					if err == nil {
						buf, err = readAll(r, buf[:0])
					}
					if err != nil {
						closed.Add(1)
						return
					}
					now := time.Now().UnixNano()
					data := buf
					for len(data) > 0 {
						var line []byte
						line, data, _ = bytes.Cut(data, []byte{'\n'})
						if bytes.HasPrefix(line, []byte(`{"push":"ping"`)) {
							c.WriteMessage(websocket.TextMessage, []byte(`{"method":"pong"}`))
							continue
						}
						if !bytes.HasPrefix(line, []byte(`{"push":"pub"`)) {
							continue
						}
						received.Add(1)
						lastRecv.Store(now)
						if *mode == "latency" {
							if t := sentAt(line); t > 0 {
								latMu.Lock()
								lats = append(lats, (now-t)/1000)
								latMu.Unlock()
							}
						}
					}
				}
			}()
		}()
	}
	wg.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		return fmt.Errorf("worker %d: %w", *first, err)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // the parent closes stdin when done
	// Count only the server's closes, taken before ours.
	serverClosed := closed.Load()
	for _, c := range conns_ {
		c.Close()
	}
	latMu.Lock()
	defer latMu.Unlock()
	return json.NewEncoder(os.Stdout).Encode(result{Received: received.Load(), Closed: serverClosed, LastRecv: lastRecv.Load(), Latencies: lats})
}

// readAll reads r to its end into buf, growing it as needed.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// sentAt finds "t":<unix ns> in a publication push without a full JSON decode.
func sentAt(line []byte) int64 {
	i := bytes.Index(line, []byte(`"data":{"t":`))
	if i < 0 {
		return 0
	}
	rest := line[i+len(`"data":{"t":`):]
	j := bytes.IndexByte(rest, ',')
	if j < 0 {
		return 0
	}
	t, _ := strconv.ParseInt(string(rest[:j]), 10, 64)
	return t
}
