package signal

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"testing"
)

// The test vectors of spec A1.4, A2.2 and A2.3, checked there against the originals.

func TestCredentialVector(t *testing.T) {
	key := bytes.Repeat([]byte{0xaa}, 32)
	iv, _ := hex.DecodeString("000102030405060708090a0b")
	const peer = "f17c195f067255e357232e34cf0735d9"
	const want = "AAECAwQFBgcICQoL/Onnl8W1xICHcDFUywmf6rgo6WaOIudCQmz3kpFIBW+JlbPy8EiwQimocUkC18nx"
	got, err := sealPeer(key, peer, iv)
	if err != nil || got != want {
		t.Fatalf("sealPeer = %q, %v; want %q", got, err, want)
	}
	if id, _, e := verifyBearer(key, "Bearer "+peer+":"+want); e != nil || id != peer {
		t.Fatalf("verifyBearer(vector) = %q, %v", id, e)
	}
	other := bytes.Repeat([]byte{0xab}, 32)
	for _, tc := range []struct {
		name, header string
		key          []byte
		want         *apiError
	}{
		{"missing", "", key, errNoAuthHeader},
		{"not bearer", "Basic " + peer + ":" + want, key, errAuthFormat},
		{"extra space", "Bearer  " + peer + ":" + want, key, errAuthFormat},
		{"no colon", "Bearer " + peer + want, key, errCredFormat},
		{"two colons", "Bearer " + peer + ":" + want + ":x", key, errCredFormat},
		{"other peer", "Bearer 00000000000000000000000000000000:" + want, key, errInvalidCreds},
		{"other key", "Bearer " + peer + ":" + want, other, errInvalidCreds},
		{"not base64", "Bearer " + peer + ":!!!!", key, errInvalidCreds},
		{"short", "Bearer " + peer + ":AAAA", key, errInvalidCreds},
		{"huge", "Bearer " + peer + ":" + string(bytes.Repeat([]byte("A"), 4000)), key, errInvalidCreds},
	} {
		if _, _, e := verifyBearer(tc.key, tc.header); e != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, e, tc.want)
		}
	}
}

func TestBloomVectors(t *testing.T) {
	for _, tc := range []struct {
		s        string
		h        [3]uint32
		idx      [3]uint32 // for m = 1024, when given
		checkIdx bool
	}{
		{"abc", [3]uint32{440920331, 2133084876, 57514889}, [3]uint32{}, false},
		{"f17c195f067255e357232e34cf0735d9", [3]uint32{732589012, 3925272005, 1387686810}, [3]uint32{980, 453, 922}, true},
		{"00000000000000000000000000000000", [3]uint32{4039664709, 2018559428, 2745746759}, [3]uint32{}, false},
	} {
		for i := uint32(0); i < 3; i++ {
			if got := bloomHash(tc.s, i); got != tc.h[i] {
				t.Errorf("h_%d(%q) = %d, want %d", i, tc.s, got, tc.h[i])
			}
			if tc.checkIdx && bloomHash(tc.s, i)%1024 != tc.idx[i] {
				t.Errorf("index_%d(%q) = %d, want %d", i, tc.s, bloomHash(tc.s, i)%1024, tc.idx[i])
			}
		}
	}
	if bloomHash("abc", 0) != 0x1A47E90B {
		t.Error("h_0 is not standard FNV-1a")
	}
	f := make(bloom, 8)
	f.add("abc")
	if got := base64.StdEncoding.EncodeToString(f); got != "ABoAAAAAAAA=" {
		t.Errorf("64-bit filter with abc = %s, want ABoAAAAAAAA=", got)
	}
	dec, err := atob("ABoAAAAAAAA=")
	if err != nil || !bloom(dec).has("abc") {
		t.Fatalf("decoded vector filter does not hold abc (%v)", err)
	}
	if bloom(dec).has("f17c195f067255e357232e34cf0735d9") {
		t.Error("vector filter holds a peer it was not given")
	}
	if bloom(nil).has("abc") {
		t.Error("an empty filter holds something")
	}
}

func TestAtob(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // hex; "err" for an error
	}{
		{"ABoAAAAAAAA=", "001a000000000000"},
		{"ABoAAAAAAAA", "001a000000000000"},
		{" AB oA\nAAAA AAA= ", "001a000000000000"},
		{"AQ==", "01"},
		{"AQ", "01"},
		{"AR==", "01"}, // unused bits ignored
		{"", ""},
		{"A", "err"},
		{"AQ=", "err"},
		{"A=Q=", "err"},
		{"AB-_", "err"}, // URL-safe alphabet is not atob's
		{"AQ===", "err"},
	} {
		b, err := atob(tc.in)
		got := hex.EncodeToString(b)
		if err != nil {
			got = "err"
		}
		if got != tc.want {
			t.Errorf("atob(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestSignatureVector(t *testing.T) {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := hex.EncodeToString(priv.Public().(ed25519.PublicKey))
	if pub != "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" {
		t.Fatalf("public key %s", pub)
	}
	var params any
	if err := json.Unmarshal([]byte(`{"tags":["chat"],"offers":[{"sdp":"v=0\r\n"}],"ttl":300000}`), &params); err != nil {
		t.Fatal(err)
	}
	canon, err := CanonicalJSON(params)
	if err != nil {
		t.Fatal(err)
	}
	msg := "1700000000000:123e4567-e89b-42d3-a456-426614174000:publishOffer:" + canon
	const wantMsg = `1700000000000:123e4567-e89b-42d3-a456-426614174000:publishOffer:{"offers":[{"sdp":"v=0\r\n"}],"tags":["chat"],"ttl":300000}`
	if msg != wantMsg {
		t.Fatalf("message\n got %s\nwant %s", msg, wantMsg)
	}
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(msg)))
	if sig != "N3LkMIKNrBCUxotJJ6nWxV91lKKVf9a2Ep1GTthl4L6KSzl1XnFVHdObOpSoEzTE3Nvmy4+V2z8Q0JjR1dogAA==" {
		t.Fatalf("signature %s", sig)
	}
	// The server side: lenient base64 reads the URL-safe, unpadded form too.
	urlSafe := base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(msg)))
	if !bytes.Equal(lenientBase64(urlSafe), lenientBase64(sig)) || len(lenientBase64(sig)) != 64 {
		t.Fatal("lenient base64 does not read both alphabets")
	}
}

func TestCanonicalJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`null`, `null`},
		{`[true,false]`, `[true,false]`},
		{`{"b":1,"a":{"d":[1,2],"c":"x"}}`, `{"a":{"c":"x","d":[1,2]},"b":1}`},
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`"<>&/\u2028\u2029é"`, "\"<>&/\u2028\u2029é\""},
		{`"\u0000\u001f\b\t\n\f\r\"\\"`, `"\u0000\u001f\b\t\n\f\r\"\\"`},
		{`{"😀":1,"\uffff":2}`, `{"😀":1,"` + "\uffff" + `":2}`}, // UTF-16: U+D83D < U+FFFF
		{`1.0`, `1`},
		{`1e2`, `100`},
		{`-0`, `0`},
		{`0.5`, `0.5`},
		{`300000`, `300000`},
		{`1e21`, `1e+21`},
		{`123456789012345678901`, `123456789012345680000`},
		{`1e-7`, `1e-7`},
		{`0.000001`, `0.000001`},
		{`1.5e-7`, `1.5e-7`},
		{`-2.5e+30`, `-2.5e+30`},
		{`0.1`, `0.1`},
		{`1700000000000`, `1700000000000`},
	} {
		var v any
		if err := json.Unmarshal([]byte(tc.in), &v); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		got, err := CanonicalJSON(v)
		if err != nil || got != tc.want {
			t.Errorf("CanonicalJSON(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if got, _ := CanonicalJSON(map[string]any{"since": undefinedValue{}}); got != `{"since":undefined}` {
		t.Errorf("undefined renders as %s", got)
	}
	deep := any("x")
	for range 102 {
		deep = []any{deep}
	}
	if _, err := CanonicalJSON(deep); err == nil {
		t.Error("nesting deeper than 100 was accepted")
	}
	if jsNumber(math.MaxFloat64) != "1.7976931348623157e+308" || jsNumber(5e-324) != "5e-324" {
		t.Error("extreme numbers")
	}
}
