package signal

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"strings"
)

// credentials are one call's G4 authentication: from the element's "auth" object, each
// field falling back to its header (spec A1.3 step 8).
type credentials struct {
	PublicKey string
	Timestamp float64 // ms; 0 = missing or invalid
	Nonce     string
	Signature string
}

// headerCredentials reads X-PublicKey, X-Timestamp, X-Nonce and X-Signature. A timestamp
// without digits is missing (rondevu's parseInt gave NaN, which passed its freshness check:
// spec A4.6).
func headerCredentials(r *http.Request) credentials {
	c := credentials{PublicKey: r.Header.Get("X-PublicKey"), Nonce: r.Header.Get("X-Nonce"), Signature: r.Header.Get("X-Signature")}
	if n, ok := parseIntPrefix(r.Header.Get("X-Timestamp")); ok {
		c.Timestamp = float64(n)
	}
	return c
}

// merge overlays an element's auth object on the header credentials.
func (c credentials) merge(raw json.RawMessage) credentials {
	f, err := decodeFields(raw)
	if err != nil {
		return c
	}
	// JavaScript's ??: a member that is missing or null falls back to the header.
	if f.has("publicKey") {
		c.PublicKey, _ = f.str("publicKey")
	}
	if f.has("timestamp") {
		n, isNum := f.num("timestamp")
		if !isNum || n != math.Trunc(n) || math.IsInf(n, 0) {
			n = 0
		}
		c.Timestamp = n
	}
	if f.has("nonce") {
		c.Nonce, _ = f.str("nonce")
	}
	if f.has("signature") {
		c.Signature, _ = f.str("signature")
	}
	return c
}

func authRequired(msg string) *apiError {
	return wire(http.StatusUnauthorized, "AUTH_REQUIRED", "%s", msg)
}

func badCredentials(msg string) *apiError {
	return wire(http.StatusUnauthorized, "INVALID_CREDENTIALS", "%s", msg)
}

// optionalParams lists, per method, the params the real client puts in its object literal
// even when they are undefined; it signs them as `"name":undefined` while the wire drops
// them (spec A1.4, real-client quirk).
var optionalParams = map[string][]string{
	"publishOffer":     {"ttl"},
	"answerOffer":      {"matchedTags"},
	"poll":             {"since"},
	"getIceCandidates": {"since"},
}

// verify authenticates one call and returns the caller's public key. params is the parsed
// params ({} when absent).
func (s *Service) verify(ctx context.Context, c credentials, method string, params any) (string, *apiError) {
	switch {
	case c.PublicKey == "":
		return "", authRequired("Missing or invalid publicKey (provide in request.auth or X-PublicKey header)")
	case c.Timestamp == 0:
		return "", authRequired("Missing or invalid timestamp (provide in request.auth or X-Timestamp header)")
	case c.Nonce == "":
		return "", authRequired("Missing or invalid nonce (provide in request.auth or X-Nonce header)")
	case c.Signature == "":
		return "", authRequired("Missing or invalid signature (provide in request.auth or X-Signature header)")
	}
	now := float64(s.nowMS())
	if now-c.Timestamp > float64(s.cfg.TimestampMaxAge) {
		return "", invalid("Timestamp too old")
	}
	if c.Timestamp-now > float64(s.cfg.TimestampMaxAhead) {
		return "", invalid("Timestamp too far in future")
	}
	if e := checkPublicKey(c.PublicKey); e != nil {
		return "", e
	}
	if !validNonce(c.Nonce) {
		// rondevu threw a generic error here (INTERNAL_ERROR) and refused the client's own
		// fallback nonce of 32 hex characters (spec A4.5).
		return "", badCredentials("Invalid nonce format (expected a UUID v4 or 32 hex characters)")
	}
	sig := lenientBase64(c.Signature)
	pub, _ := hex.DecodeString(c.PublicKey)
	if len(sig) != ed25519.SignatureSize || !s.signatureMatches(pub, sig, c, method, params) {
		return "", badCredentials("Invalid signature")
	}
	fresh, err := s.db.useNonce(ctx, "nonce:"+c.PublicKey+":"+c.Nonce, int64(c.Timestamp)+s.cfg.TimestampMaxAge)
	if err != nil {
		s.log.Error("nonce", "err", err)
		return "", wire(http.StatusInternalServerError, "INTERNAL_ERROR", "Internal server error")
	}
	if !fresh {
		return "", badCredentials("Nonce already used (replay attack detected)")
	}
	return c.PublicKey, nil
}

// signatureMatches checks the signature over T:N:METHOD:CanonicalJSON(params), then, if the
// method has optional params missing from the wire, over the rendering the real client
// signs for them (`"ttl":undefined`).
func (s *Service) signatureMatches(pub, sig []byte, c credentials, method string, params any) bool {
	prefix := jsNumber(c.Timestamp) + ":" + c.Nonce + ":" + method + ":"
	canon, err := CanonicalJSON(params)
	if err != nil {
		return false
	}
	if ed25519.Verify(pub, []byte(prefix+canon), sig) {
		return true
	}
	obj, ok := params.(map[string]any)
	if !ok {
		return false
	}
	var missing []string
	for _, name := range optionalParams[method] {
		if _, present := obj[name]; !present {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return false
	}
	with := make(map[string]any, len(obj)+len(missing))
	for k, v := range obj {
		with[k] = v
	}
	for _, name := range missing {
		with[name] = undefinedValue{}
	}
	canon, err = CanonicalJSON(with)
	return err == nil && ed25519.Verify(pub, []byte(prefix+canon), sig)
}

// checkPublicKey requires 64 lowercase hex characters.
func checkPublicKey(k string) *apiError {
	if len(k) != 64 {
		return wire(http.StatusUnauthorized, "INVALID_PUBLIC_KEY", "Public key must be 64 hex characters (32 bytes)")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return wire(http.StatusUnauthorized, "INVALID_PUBLIC_KEY", "Invalid hex character at position %d: '%c' (use lowercase hex)", i, c)
		}
	}
	return nil
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// validNonce accepts rondevu's UUID v4 shape (spec A1.4 step 3) and the client's fallback
// of 32 hex characters.
func validNonce(n string) bool {
	switch len(n) {
	case 32:
		for i := 0; i < len(n); i++ {
			if !isHex(n[i]) {
				return false
			}
		}
		return true
	case 36:
		for i := 0; i < len(n); i++ {
			c := n[i]
			switch i {
			case 8, 13, 18, 23:
				if c != '-' {
					return false
				}
			case 14:
				if c != '4' {
					return false
				}
			case 19:
				if !strings.ContainsRune("89abAB", rune(c)) {
					return false
				}
			default:
				if !isHex(c) {
					return false
				}
			}
		}
		return true
	}
	return false
}

// lenientBase64 decodes as Node's Buffer.from(s, "base64"): both alphabets, padding
// optional, decoding stops at the first '=', other characters are skipped.
func lenientBase64(s string) []byte {
	if len(s) > 1024 {
		return nil
	}
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '=':
			i = len(s)
		case c == '-':
			clean = append(clean, '+')
		case c == '_':
			clean = append(clean, '/')
		case b64value(c) >= 0:
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	b, err := base64.RawStdEncoding.DecodeString(string(clean))
	if err != nil {
		return nil
	}
	return b
}
