package node_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/apps/counter"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/module"
	"github.com/switchboard/switchboard/internal/node"
	"github.com/switchboard/switchboard/internal/node/nodetest"
	"github.com/switchboard/switchboard/internal/server"
)

const guard = 10 * time.Second // bounds every wait; not a speed assertion

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// hello is a sixth app, whole: its config section (one field, so one environment variable),
// its constructor and one route. Adding it to a node takes its package and one line in the
// module list, nothing else.
type helloConfig struct {
	config.App
	Greeting string `json:"greeting"`
}

func (c *helloConfig) Validate() error {
	if c.Greeting == "" {
		return errors.New("greeting is empty")
	}
	return c.ValidatePrefix()
}

type hello struct{ cfg *helloConfig }

func newHello(d module.Deps) (*hello, error) {
	return &hello{config.Get[helloConfig](d.Config, "hello")}, nil
}
func (h *hello) Name() string                { return "hello" }
func (h *hello) Start(context.Context) error { return nil }
func (h *hello) Run(context.Context)         {}
func (h *hello) Mounts() []server.Mount      { return []server.Mount{{App: h, Prefix: h.cfg.Prefix}} }
func (h *hello) Routes(r *httpx.Router) {
	r.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, h.cfg.Greeting) })
}

var helloEntry = node.Entry{
	Name: "hello",
	Default: func() config.Section {
		return &helloConfig{App: config.App{Enabled: true, Prefix: "/hello"}, Greeting: "hi"}
	},
	New: func(d module.Deps) (module.Module, error) { return newHello(d) },
}

func TestSixthApp(t *testing.T) {
	list := append(slices.Clone(node.Modules), helloEntry)
	env := map[string]string{"SWITCHBOARD_HELLO_GREETING": "hey", "SWITCHBOARD_DATA": t.TempDir()}
	cfg, _, err := node.LoadConfig(nil, func(k string) string { return env[k] }, list...)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.NewWith(context.Background(), cfg, quiet, list)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	defer func() {
		n.Server.SkipDrainDelay()
		cancel()
		<-done
		n.Close()
	}()
	r, err := (&http.Client{Timeout: guard}).Get("http://" + ln.Addr().String() + "/hello/hello")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if b, _ := io.ReadAll(r.Body); r.StatusCode != 200 || string(b) != "hey" {
		t.Fatalf("GET /hello/hello: %d %q", r.StatusCode, b)
	}
	// The file's "apps" object and validation reach it too.
	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"apps":{"hello":{"greeting":""}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := node.LoadConfig([]string{"-config", file}, func(string) string { return "" }, list...); err == nil || !strings.Contains(err.Error(), "apps.hello: greeting is empty") {
		t.Fatalf("an invalid section: %v", err)
	}
}

// broken fails to start, after the built-in modules have started.
var broken = node.Entry{
	Name:    "broken",
	Default: func() config.Section { return &helloConfig{App: config.App{Enabled: true}, Greeting: "x"} },
	New:     func(module.Deps) (module.Module, error) { return brokenModule{}, nil },
}

type brokenModule struct{}

func (brokenModule) Mounts() []server.Mount      { return nil }
func (brokenModule) Start(context.Context) error { return errors.New("no luck") }
func (brokenModule) Run(context.Context)         {}

// TestFailedStartLeavesNothing: when a module fails to start, the node ends the modules that
// had started (relays, the counter's committer, subscriptions), closes the store and the
// broker, and reports the error: no goroutine and no open database file stay behind.
func TestFailedStartLeavesNothing(t *testing.T) {
	list := append(slices.Clone(node.Modules), broken)
	cfg := node.DefaultConfig(list...)
	cfg.DataDir = t.TempDir()
	before := runtime.NumGoroutine()
	n, err := node.NewWith(context.Background(), cfg, quiet, list)
	if err == nil || !strings.Contains(err.Error(), "start broken: no luck") || n != nil {
		t.Fatalf("NewWith = %v, %v", n, err)
	}
	for deadline := time.Now().Add(guard); runtime.NumGoroutine() > before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left of %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if target, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); strings.HasPrefix(target, cfg.DataDir) {
			t.Fatalf("%s is still open", target)
		}
	}
}

// TestAppsReachTheCoreThroughTheHub: no app imports the broker or the socket.io library.
func TestAppsReachTheCoreThroughTheHub(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "../apps/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		for _, imp := range strings.Fields(imports) {
			if strings.HasSuffix(imp, "/internal/broker") || strings.Contains(imp, "zishang520") {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
}

// TestFirstMountKeepsAPath: the counter's dev frontend and the streams' welcome text both
// serve / at the root; the counter, mounted first, keeps it when its frontend is on.
func TestFirstMountKeepsAPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>frust</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		frontend string
		status   int
		want     string
	}{{"", 200, "Welcome to api.twizzle.net"}, {dir, 302, "/index.html"}} {
		n := nodetest.Start(t, nodetest.Config(t, func(c *config.Config) { counter.Settings(*c).Frontend = tc.frontend }))
		c := &http.Client{Timeout: guard, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		r, err := c.Get(n.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != tc.status || !strings.Contains(string(b)+r.Header.Get("Location"), tc.want) {
			t.Fatalf("frontend %q: GET / = %d %q (Location %q)", tc.frontend, r.StatusCode, b, r.Header.Get("Location"))
		}
	}
}
