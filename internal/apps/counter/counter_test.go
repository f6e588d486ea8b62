package counter

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/broker"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/module"
	"github.com/switchboard/switchboard/internal/store"
	"github.com/switchboard/switchboard/internal/store/storetest"
	"github.com/switchboard/switchboard/internal/transport"
)

// clock is a settable time for the app.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newApp(t *testing.T, st *store.DB, mutate func(*config.Config)) (*App, *clock, http.Handler) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mem := broker.NewMemory(time.Hour)
	h := hub.New(mem, mem, log)
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Apps[Name] = Default()
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := New(module.Deps{Config: cfg, Hub: h, Store: st, Registry: transport.NewRegistry(0, 0, time.Minute), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.stop)
	c := &clock{}
	a.now = c.now
	mux := http.NewServeMux()
	a.Routes(httpx.NewRouter(mux, "", nil))
	return a, c, mux
}

func get[T any](t *testing.T, h http.Handler, path string) T {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != 200 {
		t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
	}
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%s: %v: %s", path, err, rec.Body)
	}
	return v
}

func ptr(s string) *string { return &s }

// TestRollover walks the clock over an hour, a UTC midnight and a week, checking every route
// against what frust's algorithm (spec B5) gives.
func TestRollover(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.DB) {
		ctx := context.Background()
		a, c, h := newApp(t, st, nil)
		day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
		at := func(d time.Duration) int64 { c.t = day.Add(d); return c.t.Unix() }

		// 22:10 and 23:59:30 on day 1.
		ts := at(22*time.Hour + 10*time.Minute)
		a.startHour(ctx)
		for range 2 {
			if err := a.db.addClick(ctx, Click{User: "ana", Comment: ptr("hm"), Timestamp: ts}); err != nil {
				t.Fatal(err)
			}
		}
		ts = at(23*time.Hour + 59*time.Minute + 30*time.Second)
		if err := a.db.addClick(ctx, Click{User: "ben", Timestamp: ts}); err != nil {
			t.Fatal(err)
		}
		if err := a.db.addEvent(ctx, Event{User: "ben", Name: "einstein", Timestamp: ts}, true); err != nil {
			t.Fatal(err)
		}
		if err := a.db.addEvent(ctx, Event{User: "ben", Name: "rickroll", Timestamp: ts}, false); err != nil {
			t.Fatal(err)
		}
		if s := get[Stats](t, h, "/api/current_stats"); s != (Stats{ClickTotal: 3, ClickToday: 3, ClickHour: 1, EventTotal: 2, EventToday: 2, EventHour: 2}) {
			t.Fatalf("day 1, 23:59: %+v", s)
		}
		if cs := get[[]Click](t, h, "/api/latest_clicks"); len(cs) != 3 || cs[0].User != "ben" || cs[0].Comment != nil || *cs[2].Comment != "hm" {
			t.Fatalf("latest clicks %+v", cs)
		}
		if es := get[[]Event](t, h, "/api/latest_events"); len(es) != 1 || es[0].Name != "einstein" {
			t.Fatalf("rickroll counts but is not stored: %+v", es)
		}

		// Midnight UTC: today starts from zero, the totals go on, yesterday's hours stay.
		at(24*time.Hour + 10*time.Second)
		a.startHour(ctx)
		if s := get[Stats](t, h, "/api/current_stats"); s != (Stats{ClickTotal: 3, EventTotal: 2}) {
			t.Fatalf("day 2, 00:00: %+v", s)
		}
		if cs := get[[]Click](t, h, "/api/latest_clicks"); len(cs) != 0 {
			t.Fatalf("yesterday's clicks listed as today's: %+v", cs)
		}
		hours := get[[]Hour](t, h, "/api/latest_hours")
		want := []Hour{
			{Timestamp: day.Add(22 * time.Hour).Unix(), Clicks: 2, ClickTotal: 2},
			{Timestamp: day.Add(23 * time.Hour).Unix(), Clicks: 1, Events: 2, ClickTotal: 3, EventTotal: 2},
			{Timestamp: day.Add(24 * time.Hour).Unix(), ClickTotal: 3, EventTotal: 2}, // the running hour
		}
		if len(hours) != 3 || hours[0] != want[0] || hours[1] != want[1] || hours[2] != want[2] {
			t.Fatalf("hours\n got %+v\nwant %+v", hours, want)
		}
		ts = at(24*time.Hour + 20*time.Minute)
		if err := a.db.addClick(ctx, Click{User: "ana", Timestamp: ts}); err != nil {
			t.Fatal(err)
		}
		if s := get[Stats](t, h, "/api/current_stats"); s != (Stats{ClickTotal: 4, ClickToday: 1, ClickHour: 1, EventTotal: 2}) {
			t.Fatalf("day 2, 00:20: %+v", s)
		}
		if us := get[[]User](t, h, "/api/users"); len(us) != 2 || us[0] != (User{"ana", 3, 0}) || us[1] != (User{"ben", 1, 1}) {
			t.Fatalf("users %+v", us)
		}

		// A week on, latest_hours keeps today and the six days before.
		at(8*24*time.Hour + 5*time.Minute)
		a.startHour(ctx)
		hours = get[[]Hour](t, h, "/api/latest_hours")
		if len(hours) != 1 || hours[0].Timestamp != day.Add(8*24*time.Hour).Unix() || hours[0].ClickTotal != 4 {
			t.Fatalf("a week later: %+v", hours)
		}
		at(7*24*time.Hour + 5*time.Minute)
		if hours = get[[]Hour](t, h, "/api/latest_hours"); len(hours) != 3 || hours[0].Timestamp != day.Add(24*time.Hour).Unix() {
			t.Fatalf("six days back: %+v", hours)
		}
	})
}

func TestRoutes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>frust</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, c, h := newApp(t, storetest.SQLite(t), func(cfg *config.Config) { Settings(*cfg).Frontend = dir })
	c.t = time.Date(2026, 3, 10, 15, 4, 5, 0, time.UTC)
	if v := get[map[string]string](t, h, "/api"); v["version"] != "1.0" {
		t.Fatalf("/api %v", v)
	}
	if v := get[[]any](t, h, "/api/online_users"); len(v) != 0 {
		t.Fatalf("online users %v", v)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"POST", "/api/latest_clicks", 405, ""},
		{"GET", "/", 302, ""},
		{"GET", "/index.html", 200, "<h1>frust</h1>"},
		{"GET", "/version", 200, `"commit_sha":"dev","timestamp":1773100800`},
		{"GET", "/version.json", 200, `"commit_sha":"1773155045"`},
		{"GET", "/nope.js", 404, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
		}
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
		ok   bool
	}{
		{"  Gast ", "Gast", true},
		{"<b>x</b>", "bx/b", true},
		{"a&amp;b", "aamp;b", true},
		{"tab\there", "tabhere", true},
		{"", "", false},
		{"   ", "", false},
		{"<>", "", false},
		{"sechzehn zeichen", "sechzehn zeichen", false},
		{"fünfzehn zeiche", "fünfzehn zeiche", true},
		{5, "", false},
		{nil, "", false},
	} {
		got, ok := clean(tc.in, 15)
		if got != tc.want || ok != tc.ok {
			t.Errorf("clean(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	a := &App{styles: set(Default().Styles)}
	for in, want := range map[any]string{
		"green dotted": "green dotted", " ": "", "evil green": "green", 7: "", `red" onload="x`: "",
		// frust-web's /fire and /fancy (its CSS and /help define them).
		"fire ": "fire", "fancy purple": "fancy purple", "big white": "big white",
	} {
		if got := a.style(in); got != want {
			t.Errorf("style(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConcurrentClicksExact: clicks committed from many goroutines at once (batched by the
// committer) are each counted once.
func TestConcurrentClicksExact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.DB) {
		a, c, h := newApp(t, st, nil)
		c.t = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
		const workers, each = 8, 60
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					click := Click{User: "u" + strconv.Itoa(w), Timestamp: c.t.Unix()}
					if i%10 == 0 {
						if !a.commits.add(record{event: &Event{User: click.User, Name: "pride", Timestamp: click.Timestamp}, stored: true}) {
							t.Error("event refused")
						}
					}
					if !a.commits.add(record{click: &click}) {
						t.Error("click refused")
					}
				}
			})
		}
		wg.Wait()
		if err := a.commits.sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := Stats{ClickTotal: workers * each, ClickToday: workers * each, ClickHour: workers * each,
			EventTotal: workers * each / 10, EventToday: workers * each / 10, EventHour: workers * each / 10}
		if s := get[Stats](t, h, "/api/current_stats"); s != want {
			t.Fatalf("stats %+v, want %+v", s, want)
		}
		for _, u := range get[[]User](t, h, "/api/users") {
			if u.Clicks != each || u.Events != each/10 {
				t.Fatalf("user %+v", u)
			}
		}
	})
}

// TestBatchCountsAsOneByOne: a batch stored in one transaction (the committer's) leaves the
// rows that storing its records one by one would: the totals, each hour's counts and its
// totals at the hour's last record, each user's credit, and a row per click and stored event.
func TestBatchCountsAsOneByOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.DB) {
		a, _, _ := newApp(t, st, nil)
		ctx := context.Background()
		h1 := int64(1_700_000_000) - int64(1_700_000_000)%3600
		h2 := h1 + 3600
		click := func(user string, ts int64) record { return record{click: &Click{User: user, Timestamp: ts}} }
		event := func(user string, ts int64, stored bool) record {
			return record{event: &Event{User: user, Name: "einstein", Timestamp: ts}, stored: stored}
		}
		batch := []record{
			click("ana", h1+1), click("ben", h1+2), event("ben", h1+3, true), {synced: make(chan struct{})},
			click("ana", h1+4), event("cat", h1+5, false), click("ana", h2+1), event("dan", h2+2, true),
		}
		if err := a.db.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error { return a.db.storeBatch(ctx, tx, batch) }); err != nil {
			t.Fatal(err)
		}
		var clicks, events int64
		if err := st.Read().QueryRowContext(ctx, `SELECT clicks, events FROM counter_totals WHERE id = 1`).Scan(&clicks, &events); err != nil {
			t.Fatal(err)
		}
		if clicks != 4 || events != 3 {
			t.Errorf("totals %d clicks, %d events; want 4, 3", clicks, events)
		}
		for _, want := range []struct{ ts, clicks, events, clicksTotal, eventsTotal int64 }{
			{h1, 3, 2, 3, 2},
			{h2, 1, 1, 4, 3},
		} {
			var c, e, ct, et int64
			if err := st.Read().QueryRowContext(ctx, `SELECT clicks, events, clicks_total, events_total FROM counter_hours WHERE ts = $1`, want.ts).
				Scan(&c, &e, &ct, &et); err != nil {
				t.Fatal(err)
			}
			if c != want.clicks || e != want.events || ct != want.clicksTotal || et != want.eventsTotal {
				t.Errorf("hour %d: %d %d %d %d, want %+v", want.ts, c, e, ct, et, want)
			}
		}
		users := map[string][2]int64{}
		rows, err := st.Read().QueryContext(ctx, `SELECT name, clicks, events FROM counter_users`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var c, e int64
			if err := rows.Scan(&name, &c, &e); err != nil {
				t.Fatal(err)
			}
			users[name] = [2]int64{c, e}
		}
		if want := map[string][2]int64{"ana": {3, 0}, "ben": {1, 1}, "dan": {0, 1}}; !maps.Equal(users, want) {
			t.Errorf("users %v, want %v (an event that is not stored credits no one)", users, want)
		}
		var clickRows, eventRows int
		if err := st.Read().QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM counter_clicks), (SELECT COUNT(*) FROM counter_events)`).Scan(&clickRows, &eventRows); err != nil {
			t.Fatal(err)
		}
		if clickRows != 4 || eventRows != 2 {
			t.Errorf("%d click rows and %d event rows, want 4 and 2", clickRows, eventRows)
		}
	})
}
