package httpx

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func FuzzResolveClientIP(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "6.6.6.6, 1.2.3.4", ",,", "::ffff:1.2.3.4", "1.2.3.4, 10.0.0.1", " 2001:db8::1 ", "x"} {
		f.Add(s)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:5000"
		r.Header.Set("X-Forwarded-For", xff)
		got := ResolveClientIP(r, trusted)
		if got == "127.0.0.1" {
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("resolved %q, not an address", got)
		}
		if isTrusted(got, trusted) {
			t.Fatalf("resolved a trusted proxy %s as the client", got)
		}
		named := false
		for _, hop := range strings.Split(xff, ",") {
			if h, err := netip.ParseAddr(strings.TrimSpace(hop)); err == nil && h.Unmap() == a {
				named = true
			}
		}
		if !named {
			t.Fatalf("resolved %s, which the header %q does not name", got, xff)
		}
	})
}
