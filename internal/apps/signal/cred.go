package signal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/switchboard/switchboard/internal/auth"
)

// G2 credentials (spec A2.2) are stateless: the secret is AES-256-GCM of the peer id under
// the server key, as standard base64 of IV(12) ‖ ciphertext ‖ tag(16), 80 characters for a
// 32-character id. Go's GCM uses the same layout, so a key shared with an original server
// keeps its credentials valid.

// newPeerID returns 16 random bytes as 32 lowercase hex characters.
func newPeerID() string { return auth.RandomHex(16) }

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealPeer returns the secret of peerID under key with the given IV (random when nil).
func sealPeer(key []byte, peerID string, iv []byte) (string, error) {
	secret, _, err := sealPeerIV(key, peerID, iv)
	return secret, err
}

// sealPeerIV is sealPeer that also returns the IV used, as hex.
func sealPeerIV(key []byte, peerID string, iv []byte) (secret, ivHex string, err error) {
	aead, err := gcm(key)
	if err != nil {
		return "", "", err
	}
	if iv == nil {
		iv = make([]byte, aead.NonceSize())
		_, _ = rand.Read(iv)
	}
	ivHex = hex.EncodeToString(iv) // before Seal appends to iv's array
	return base64.StdEncoding.EncodeToString(aead.Seal(iv, iv, []byte(peerID), nil)), ivHex, nil
}

// Errors of verifyBearer, worded as rondevu's middleware words them (all 401).
var (
	errNoAuthHeader = wire(http.StatusUnauthorized, "", "Missing Authorization header")
	errAuthFormat   = wire(http.StatusUnauthorized, "", "Invalid Authorization header format. Expected: Bearer {peerId}:{secret}")
	errCredFormat   = wire(http.StatusUnauthorized, "", "Invalid credentials format. Expected: {peerId}:{secret}")
	errInvalidCreds = wire(http.StatusUnauthorized, "", "Invalid credentials")
)

// maxCredentialLen bounds the header: an id and an 80-character secret fit many times over.
const maxCredentialLen = 512

// verifyBearer checks "Bearer <peerId>:<secret>" and returns the peer id and the IV its
// secret was sealed with (hex), which tells one issued credential of an id from another.
func verifyBearer(key []byte, header string) (peer, iv string, _ *apiError) {
	if header == "" {
		return "", "", errNoAuthHeader
	}
	if len(header) > maxCredentialLen {
		return "", "", errInvalidCreds
	}
	parts := strings.Split(header, " ")
	if len(parts) != 2 || parts[0] != "Bearer" {
		return "", "", errAuthFormat
	}
	cred := strings.Split(parts[1], ":")
	if len(cred) != 2 {
		return "", "", errCredFormat
	}
	peerID, secret := cred[0], cred[1]
	raw, err := atob(secret)
	if err != nil {
		return "", "", errInvalidCreds
	}
	aead, err := gcm(key)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", "", errInvalidCreds
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], nil)
	if err != nil || subtle.ConstantTimeCompare(plain, []byte(peerID)) != 1 {
		return "", "", errInvalidCreds
	}
	return peerID, hex.EncodeToString(raw[:aead.NonceSize()]), nil
}
