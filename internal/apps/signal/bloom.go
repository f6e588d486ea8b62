package signal

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
)

// bloom is rondevu's peer-exclusion filter (spec A2.3): m = 8 × len(bits) bits, bit j at
// byte j/8 under mask 1<<(j%8), k = 3 seeded FNV-1a-32 hashes over UTF-16 code units.
type bloom []byte

const bloomK = 3

// bloomHash is hash i of s: FNV-1a-32 with offset basis 0x811C9DC5 XOR i.
func bloomHash(s string, i uint32) uint32 {
	h := uint32(0x811C9DC5) ^ i
	for _, c := range utf16.Encode([]rune(s)) {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// has reports whether s tests positive; an empty filter holds nothing.
func (b bloom) has(s string) bool {
	m := uint32(len(b)) * 8
	if m == 0 {
		return false
	}
	for i := uint32(0); i < bloomK; i++ {
		j := bloomHash(s, i) % m
		if b[j/8]&(1<<(j%8)) == 0 {
			return false
		}
	}
	return true
}

// add sets s's bits (clients build filters; tests and the load tool use it).
func (b bloom) add(s string) {
	m := uint32(len(b)) * 8
	for i := uint32(0); i < bloomK; i++ {
		j := bloomHash(s, i) % m
		b[j/8] |= 1 << (j % 8)
	}
}

var errBadBase64 = errors.New("invalid base64")

// atob decodes base64 as a browser's atob does (WHATWG forgiving-base64): ASCII whitespace
// is removed; when the length is a multiple of 4, one or two trailing '=' are dropped; a
// length of 1 mod 4, or any character outside A–Z a–z 0–9 + /, is an error. Unused trailing
// bits are ignored.
func atob(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\f', '\r':
			return -1
		}
		return r
	}, s)
	if len(s)%4 == 0 {
		if strings.HasSuffix(s, "==") {
			s = s[:len(s)-2]
		} else if strings.HasSuffix(s, "=") {
			s = s[:len(s)-1]
		}
	}
	if len(s)%4 == 1 || strings.Contains(s, "=") {
		return nil, errBadBase64
	}
	// The raw decoder rejects anything outside the alphabet and, not being strict, ignores
	// the unused trailing bits, as atob does.
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, errBadBase64
	}
	return b, nil
}

// b64value is c's value in the standard base64 alphabet, or -1.
func b64value(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}
