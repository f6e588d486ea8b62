package signal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/httpx"
	"github.com/switchboard/switchboard/internal/module"
	"github.com/switchboard/switchboard/internal/store/storetest"
)

func FuzzAtob(f *testing.F) {
	for _, s := range []string{"ABoAAAAAAAA=", "AQ", " A B ", "A", "AQ=", "====", "+/+/", "ab\ncd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := atob(s)
		if err != nil {
			return
		}
		// What atob accepts, it reads as the standard decoder reads the canonical form.
		again, err := atob(base64.StdEncoding.EncodeToString(b))
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip of %q: %x vs %x (%v)", s, b, again, err)
		}
	})
}

func FuzzBloom(f *testing.F) {
	f.Add([]byte{0, 0x1a, 0, 0, 0, 0, 0, 0}, "abc")
	f.Add([]byte{}, "")
	f.Add([]byte{0xff}, "é😀")
	f.Fuzz(func(t *testing.T, filter []byte, member string) {
		b := bloom(filter)
		_ = b.has(member)
		if len(b) > 0 {
			b.add(member)
			if !b.has(member) {
				t.Fatalf("%q not held after add", member)
			}
		}
	})
}

func FuzzLenientBase64(f *testing.F) {
	f.Add("N3LkMIKNrBCUxotJJ6nWxV91lKKVf9a2Ep1GTthl4L6KSzl1XnFVHdObOpSoEzTE3Nvmy4+V2z8Q0JjR1dogAA==")
	f.Add("a-b_c=d")
	f.Add("@@@")
	f.Fuzz(func(t *testing.T, s string) {
		b := lenientBase64(s)
		if len(s) <= 1024 && len(b) > len(s) {
			t.Fatalf("%d bytes from %d characters", len(b), len(s))
		}
	})
}

func FuzzBearer(f *testing.F) {
	key := bytes.Repeat([]byte{0xaa}, 32)
	f.Add("Bearer f17c195f067255e357232e34cf0735d9:AAECAwQFBgcICQoL/Onnl8W1xICHcDFUywmf6rgo6WaOIudCQmz3kpFIBW+JlbPy8EiwQimocUkC18nx")
	f.Add("Bearer a:b")
	f.Add("Bearer :")
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		peer, _, e := verifyBearer(key, header)
		if e == nil && !strings.HasPrefix(header, "Bearer "+peer+":") {
			t.Fatalf("accepted %q as %q", header, peer)
		}
	})
}

// FuzzCanonicalJSON: for any JSON, the canonical form is valid JSON, means the same value,
// and is a fixed point.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"tags":["chat"],"offers":[{"sdp":"v=0\r\n"}],"ttl":300000}`, `[1e21,1e-7,-0,0.1]`, `{"😀":1,"\uffff":"<&>"}`, `"\u2028"`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var v any
		if json.Unmarshal(in, &v) != nil {
			return
		}
		c, err := CanonicalJSON(v)
		if err != nil {
			return // nested too deep
		}
		var back any
		if err := json.Unmarshal([]byte(c), &back); err != nil {
			t.Fatalf("canonical form of %s is not JSON: %s", in, c)
		}
		c2, err := CanonicalJSON(back)
		if err != nil || c2 != c {
			t.Fatalf("not a fixed point: %s → %s → %s", in, c, c2)
		}
	})
}

// fuzzService is a Service over a fresh SQLite file, without a hub.
func fuzzService(t testing.TB) *Service {
	cfg := config.Default()
	cfg.Apps[Name] = Default()
	s, err := New(module.Deps{Config: cfg, Store: storetest.SQLite(t), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "fuzz"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// serve runs one request through a surface's routes.
func serve(app interface{ Routes(*httpx.Router) }) http.Handler {
	mux := http.NewServeMux()
	app.Routes(httpx.NewRouter(mux, "", nil))
	return mux
}

// FuzzRPC: any body gets a JSON array of results, never a 5xx or a panic.
func FuzzRPC(f *testing.F) {
	for _, s := range []string{`[{"method":"discover","params":{"tags":["a"],"limit":1}}]`, `[{"method":"publishOffer","params":{"offers":[{"sdp":"v"}]},"auth":{"publicKey":"x"}}]`,
		`{}`, `[]`, `[null]`, `[{"method":"poll","params":[1]}]`, `[{"method":"countOffersByTags","params":{"tags":["a","b"],"unique":true}}]`} {
		f.Add([]byte(s))
	}
	h := serve(fuzzService(f).G4())
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/rpc", bytes.NewReader(body)))
		var out []map[string]any
		if rec.Code >= 500 || json.Unmarshal(rec.Body.Bytes(), &out) != nil || len(out) == 0 {
			t.Fatalf("body %q: %d %s", body, rec.Code, rec.Body)
		}
	})
}

// FuzzG2Offers: any body for POST /offers is a 2xx or a 4xx with a JSON error.
func FuzzG2Offers(f *testing.F) {
	for _, s := range []string{`{"offers":[{"sdp":"v","topics":["a"],"ttl":1,"info":"i"}]}`, `{"offers":[{"sdp":"v","topics":["a","a"]}]}`,
		`{"offers":"x"}`, `[1]`, `{`, `{"offers":[{"sdp":"v","topics":[""],"ttl":"1"}]}`} {
		f.Add([]byte(s))
	}
	s := fuzzService(f)
	h := serve(s.G2())
	secret, _ := sealPeer(s.credKey, "f17c195f067255e357232e34cf0735d9", nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/offers", "/offers/x/answer", "/offers/x/ice-candidates"} {
			req := httptest.NewRequest("POST", path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer f17c195f067255e357232e34cf0735d9:"+secret)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assertAnswer(t, path, body, rec)
		}
	})
}

// FuzzG1 does the same for the legacy surface.
func FuzzG1(f *testing.F) {
	for _, s := range []string{`{"peerId":"p","offer":"v","code":"c"}`, `{"code":"c","side":"offerer","candidate":"x"}`, `{"code":1,"side":"answerer"}`, `nope`} {
		f.Add([]byte(s))
	}
	h := serve(fuzzService(f).G1())
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/t/offer", "/answer", "/poll"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("POST", path, bytes.NewReader(body)))
			assertAnswer(t, path, body, rec)
		}
	})
}

func assertAnswer(t *testing.T, path string, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	var out map[string]any
	if rec.Code >= 500 || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
		t.Fatalf("%s with %q: %d %s", path, body, rec.Code, rec.Body)
	}
	if rec.Code >= 400 && out["error"] == nil {
		t.Fatalf("%s with %q: %d without an error: %s", path, body, rec.Code, rec.Body)
	}
}
