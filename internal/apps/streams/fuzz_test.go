package streams

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzStamp: whatever a sender sends, a stamped message is one JSON object holding the
// sender's members (but its own timestamps) and the server's two, last.
func FuzzStamp(f *testing.F) {
	for _, s := range []string{
		`{"event":"move","data":{"latestMove":{"family":"R","amount":1,"type":"blockMove"},"timeStamp":48213,"binaryState":"00 00 00 00 00 00 00 00 00 10 00"}}`,
		`{"event":"reset","data":{"trackingOrientation":true}}`, `{"timestampUnixMS":1,"a":[1,{"b":null}]}`, `[1]`, `1`, `{}`, `{"a":1}{"b":2}`, `{"a":1,}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Unix(1612400000, 0)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ok := stamp(data, now)
		if !ok {
			return
		}
		var in, out map[string]any
		if json.Unmarshal(data, &in) != nil {
			t.Fatalf("accepted what is not an object: %q", data)
		}
		if err := json.Unmarshal(m.out, &out); err != nil {
			t.Fatalf("stamped %q is not JSON: %q", data, m.out)
		}
		if out["timestampUnixMS"] != float64(now.UnixMilli()) || !bytes.HasSuffix(m.out, []byte(`"}`)) {
			t.Fatalf("timestamps of %q: %q", data, m.out)
		}
		for k := range in {
			if _, kept := out[k]; !kept {
				t.Fatalf("member %q of %q lost: %q", k, data, m.out)
			}
		}
	})
}

// FuzzProfile: any user-info answer is read or refused, never a panic.
func FuzzProfile(f *testing.F) {
	f.Add([]byte(`{"me":{"id":6,"wca_id":"2099TEST01","name":"Test User"}}`))
	f.Add([]byte(`{"me":{"id":"x","wca_id":null,"name":""}}`))
	f.Add([]byte(`{"me":[]}`))
	p, _ := OAuthProvider{Preset: "wca"}.Resolved()
	a := &App{provider: p}
	f.Fuzz(func(t *testing.T, body []byte) {
		account, _, name, raw, err := a.profile(body)
		if err == nil && (account == "" || name == "" || !json.Valid([]byte(raw))) {
			t.Fatalf("profile(%q) = %q, %q, %q", body, account, name, raw)
		}
	})
}
