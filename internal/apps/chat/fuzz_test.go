package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/broker"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/hub"
	"github.com/switchboard/switchboard/internal/module"
	"github.com/switchboard/switchboard/internal/store/storetest"
	"github.com/switchboard/switchboard/internal/transport"
)

// fuzzApp is the chat over a fresh SQLite file and an in-process hub, with one user whose
// token is returned.
func fuzzApp(t testing.TB) (http.Handler, string) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mem := broker.NewMemory(time.Hour)
	h := hub.New(mem, mem, log)
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Apps[Name] = Default()
	Settings(cfg).LoginRate, Settings(cfg).PostRate = 0, 0
	a, err := New(module.Deps{Config: cfg, Hub: h, Store: storetest.SQLite(t), Registry: transport.NewRegistry(0, 0, time.Minute), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx, cancel := context.WithCancel(context.Background()); cancel(); a.Run(ctx) })
	mux := http.NewServeMux()
	a.Routes(httpx.NewRouter(mux, "", nil))
	do := func(path, body string) []byte {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", path, bytes.NewReader([]byte(body))))
		return rec.Body.Bytes()
	}
	do("/user", `{"username":"fuzz","password":"secret1"}`)
	var login struct {
		Token string `json:"token_value"`
	}
	_ = json.Unmarshal(do("/auth", `{"username":"fuzz","password":"secret1"}`), &login)
	if login.Token == "" {
		t.Fatal("no token")
	}
	return mux, login.Token
}

// FuzzBodies: whatever the body, every write route answers JSON, never a 5xx or a panic.
func FuzzBodies(f *testing.F) {
	for _, s := range []string{`{"username":"a1","password":"secret1"}`, `{"message_text":"hi","channel_id":"1"}`, `{"message_body":"x","channel_id":1.5}`,
		`{"title":"t","description":null}`, `[]`, `{`, `null`, `{"channel_id":{"a":[]}}`, `{"username":"","password":""}`} {
		f.Add([]byte(s))
	}
	h, token := fuzzApp(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, route := range []struct{ method, path string }{
			{"POST", "/auth"}, {"POST", "/message?auth=" + token}, {"POST", "/channel?auth=" + token}, {"PUT", "/channel/1?auth=" + token},
		} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(route.method, route.path, bytes.NewReader(body)))
			var out any
			if rec.Code >= 500 || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
				t.Fatalf("%s %s with %q: %d %s", route.method, route.path, body, rec.Code, rec.Body)
			}
		}
	})
}

// FuzzIntValue: ids arrive as numbers or strings of any shape.
func FuzzIntValue(f *testing.F) {
	f.Add(`1`)
	f.Add(`"2"`)
	f.Add(`1e400`)
	f.Add(`" 3 "`)
	f.Fuzz(func(t *testing.T, raw string) {
		var v any
		if json.Unmarshal([]byte(raw), &v) != nil {
			return
		}
		if n, ok := intValue(v); ok {
			if f, isFloat := v.(float64); isFloat && float64(n) != f {
				t.Fatalf("%s read as %d", raw, n)
			}
		}
	})
}
