package auth

import (
	"encoding/json"
	"testing"
	"time"
)

func FuzzVerify(f *testing.F) {
	good, _ := Sign("s", "u", time.Hour, []string{"a"}, []byte(`{"n":1}`))
	none := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0." // alg=none must never pass
	for _, s := range []string{good, none, "", "a.b.c", good + "x"} {
		f.Add(s)
	}
	v := NewVerifier("s")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token)
		if err != nil {
			return
		}
		// Whatever passes carries an expiry and valid JSON info (a fuzzer cannot forge
		// HMAC-SHA256, so in practice only mutations the parser ignores pass).
		if c.ExpiresAt == nil {
			t.Fatalf("accepted a token without expiry: %q", token)
		}
		if c.Info != nil && !json.Valid(c.Info) {
			t.Fatalf("accepted info that is not JSON: %q", token)
		}
	})
}

func TestVerify(t *testing.T) {
	v := NewVerifier("secret")
	ok, _ := Sign("secret", "alice", time.Hour, []string{"c"}, []byte(`{"a":1}`))
	c, err := v.Verify(ok)
	if err != nil || c.Subject != "alice" || c.Channels[0] != "c" {
		t.Fatalf("%+v %v", c, err)
	}
	old, _ := Sign("secret", "alice", -time.Minute, nil, nil)
	if _, err := v.Verify(old); err != ErrTokenExpired {
		t.Fatalf("expired: %v", err)
	}
	if _, err := NewVerifier("").Verify(ok); err != ErrNoSecret {
		t.Fatalf("no secret: %v", err)
	}
	k := NewKeyChecker("key")
	if !k.Match("key") || k.Match("Key") || k.Match("") || NewKeyChecker("").Match("") {
		t.Fatal("key checker")
	}
}
