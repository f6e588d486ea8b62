package httpx

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// TestRouterFirstMountWins: a pattern another mount already serves is skipped (and listed),
// not a panic; the first handler keeps it. Other patterns register as usual.
func TestRouterFirstMountWins(t *testing.T) {
	mux := http.NewServeMux()
	answer := func(s string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(s)) }
	}
	first, second := NewRouter(mux, "", nil), NewRouter(mux, "", nil)
	for _, p := range []string{"GET /{$}", "GET /v0/streams/{id}/socket", "/api/socket.io/"} {
		first.HandleFunc(p, answer("first"))
		second.HandleFunc(p, answer("second"))
	}
	second.HandleFunc("GET /only-second", answer("second"))
	if want := []string{"GET /{$}", "GET /v0/streams/{id}/socket", "/api/socket.io/"}; !slices.Equal(second.Skipped, want) {
		t.Fatalf("skipped %v, want %v", second.Skipped, want)
	}
	for path, want := range map[string]string{"/": "first", "/v0/streams/s1/socket": "first", "/api/socket.io/": "first", "/only-second": "second"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Body.String() != want {
			t.Errorf("GET %s answered %q, want %q", path, rec.Body.String(), want)
		}
	}
}
