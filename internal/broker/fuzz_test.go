package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// FuzzParseStored: a message from NATS (any headers another process wrote) is decoded or
// refused, never a panic.
func FuzzParseStored(f *testing.F) {
	f.Add("3", "ab12", "2", "100/60000", "1700000000000", `{"client":"c"}`, "", []byte(`{"x":1}`))
	f.Add("0", "ab12", "0", "", "", "", "1", []byte(nil))
	f.Add("x", "", "-1", "/", "y", "{", "", []byte("\xff"))
	f.Fuzz(func(t *testing.T, off, ep, prev, keep, ts, info, mark string, data []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{hdrOffset: off, hdrEpoch: ep, hdrPrev: prev, hdrKeep: keep, hdrTime: ts, hdrInfo: info, hdrMarker: mark} {
			if v != "" {
				h.Set(k, v)
			}
		}
		m, err := parseStored(h, data, 7, time.Time{})
		if err == nil && !m.marker && (m.pub == nil || m.pub.Offset != m.off) {
			t.Fatalf("decoded %+v without its publication", m)
		}
	})
}

// FuzzSubjectToken: every channel name maps to one valid NATS token, and two names never
// share one.
func FuzzSubjectToken(f *testing.F) {
	for _, s := range []string{"", "room", "chat:lobby", "a.b", "=3A", "über", "a b*>", "$SYS"} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ta := subjectToken(a)
		if ta == "" || strings.ContainsAny(ta, ". *>\t\r\n\x00$") {
			t.Fatalf("%q → %q is not one token", a, ta)
		}
		if a != b && ta == subjectToken(b) {
			t.Fatalf("%q and %q share the token %q", a, b, ta)
		}
	})
}
