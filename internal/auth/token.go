// Package auth verifies who a client is: connection tokens (JWT, HS256) and API keys, with
// constant-time comparisons. Secrets are never logged.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what a connection token may say.
type Claims struct {
	jwt.RegisteredClaims
	// Info is attached to the client and shown in presence, join and leave.
	Info json.RawMessage `json:"info,omitempty"`
	// Channels lists the channels of "token" namespaces the client may subscribe to.
	Channels []string `json:"channels,omitempty"`
}

// Errors from Verify.
var (
	ErrTokenExpired = errors.New("token expired")
	ErrTokenInvalid = errors.New("invalid token")
	ErrNoSecret     = errors.New("tokens are not enabled on this server")
)

// Verifier checks HS256 tokens signed with one secret.
type Verifier struct {
	key    []byte
	parser *jwt.Parser
}

// NewVerifier returns a verifier for secret; an empty secret refuses every token.
func NewVerifier(secret string) *Verifier {
	return &Verifier{
		key:    []byte(secret),
		parser: jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Second)),
	}
}

// Verify parses token and returns its claims. The subject ("sub") is the user id; a token
// must carry an expiry.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if len(v.key) == 0 {
		return nil, ErrNoSecret
	}
	c := &Claims{}
	_, err := v.parser.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return v.key, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrTokenExpired
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	if c.Info != nil && !json.Valid(c.Info) {
		return nil, fmt.Errorf("%w: info is not JSON", ErrTokenInvalid)
	}
	return c, nil
}

// Sign makes a token for user; tests and tools use it (the server itself only verifies).
func Sign(secret, user string, ttl time.Duration, channels []string, info json.RawMessage) (string, error) {
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: user, ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl))},
		Channels:         channels, Info: info,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
}

// KeyChecker compares presented keys with the configured one in constant time. Both sides are
// hashed first, so neither the length nor the content of the key leaks through timing.
type KeyChecker struct {
	sum [sha256.Size]byte
	set bool
}

// NewKeyChecker returns a checker for key; an empty key matches nothing.
func NewKeyChecker(key string) *KeyChecker {
	if key == "" {
		return &KeyChecker{}
	}
	return &KeyChecker{sum: sha256.Sum256([]byte(key)), set: true}
}

// Enabled reports whether a key is configured.
func (k *KeyChecker) Enabled() bool { return k.set }

// Match reports whether presented is the key.
func (k *KeyChecker) Match(presented string) bool {
	if !k.set {
		return false
	}
	sum := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(sum[:], k.sum[:]) == 1
}

// PresentedKey returns the API key a request presents, as "X-API-Key: K" or
// "Authorization: apikey K".
func PresentedKey(r *http.Request) string {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "apikey ") {
		return strings.TrimPrefix(h, "apikey ")
	}
	return ""
}

// RandomHex returns n random bytes as lowercase hex: the ids and opaque tokens every app
// hands out (n ≥ 16 for anything that grants access).
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// HashToken is how an opaque token is kept at rest: SHA-256, hex. Tokens are random, so a
// fast hash suffices (passwords take argon2id, password.go).
func HashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}
