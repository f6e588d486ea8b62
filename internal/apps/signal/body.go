package signal

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"unicode/utf16"

	"github.com/switchboard/switchboard/internal/httpx"
)

// Request bodies are decoded leniently, as rondevu's JavaScript did: unknown fields are
// ignored and each field is checked by hand, so every bad field gets rondevu's own message.
// Unlike rondevu, a body that is not JSON is a 400, not a 500.

var errBodyTooLarge = errors.New("body too large")

// readBody reads at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errBodyTooLarge
	}
	return b, err
}

// fields is a JSON object whose members are decoded one by one.
type fields map[string]json.RawMessage

// decodeFields parses b as one JSON object.
func decodeFields(b []byte) (fields, error) {
	var f fields
	if err := json.Unmarshal(b, &f); err != nil || f == nil {
		return nil, errors.New("body must be a JSON object")
	}
	return f, nil
}

// has reports whether the member is present and not null (JavaScript's truthiness of a
// present object member, for the types rondevu checked).
func (f fields) has(name string) bool {
	v, ok := f[name]
	return ok && !bytes.Equal(v, []byte("null"))
}

// str returns a string member; ok is false when it is missing or not a string.
func (f fields) str(name string) (string, bool) {
	var s string
	v, present := f[name]
	if !present || json.Unmarshal(v, &s) != nil || (len(v) > 0 && v[0] != '"') {
		return "", false
	}
	return s, true
}

// num returns a number member; ok is false when it is missing or not a number.
func (f fields) num(name string) (float64, bool) {
	v, present := f[name]
	var n float64
	if !present || json.Unmarshal(v, &n) != nil {
		return 0, false
	}
	return n, true
}

// list returns an array member; ok is false when it is missing or not an array.
func (f fields) list(name string) ([]json.RawMessage, bool) {
	v, present := f[name]
	var l []json.RawMessage
	if !present || len(v) == 0 || v[0] != '[' || json.Unmarshal(v, &l) != nil {
		return nil, false
	}
	return l, true
}

// strings decodes a JSON array of strings; ok is false if any element is not a string.
func stringsOf(l []json.RawMessage) ([]string, bool) {
	out := make([]string, len(l))
	for i, v := range l {
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &out[i]) != nil {
			return nil, false
		}
	}
	return out, true
}

// jsLen is a string's length in UTF-16 code units, JavaScript's String.length, which
// rondevu's character limits count.
func jsLen(s string) int {
	n := 0
	for _, r := range s {
		if utf16.RuneLen(r) == 2 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// depth is the nesting depth of a JSON value: a scalar 0, a flat object or array 1.
func depth(v []byte) int {
	d, maxD := 0, 0
	inString, escaped := false, false
	for _, c := range v {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			d++
			maxD = max(maxD, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return maxD
}

// checkCandidates applies the candidate limits (spec A1.6 addIceCandidates). objectsOnly
// refuses scalars (G4); G2 stored any JSON.
func (s *Service) checkCandidates(cands []json.RawMessage, objectsOnly bool) *apiError {
	if len(cands) > s.cfg.MaxCandidatesReq {
		return invalid("Too many candidates (max %d)", s.cfg.MaxCandidatesReq)
	}
	for i, c := range cands {
		if objectsOnly && (len(c) == 0 || (c[0] != '{' && c[0] != '[')) {
			return invalid("Invalid candidate at index %d: must be an object", i)
		}
		if depth(c) > s.cfg.MaxCandidateDepth {
			return invalid("Candidate at index %d too deeply nested (max depth %d)", i, s.cfg.MaxCandidateDepth)
		}
		if len(c) > s.cfg.MaxCandidateSize {
			return invalid("Candidate at index %d too large (max %d bytes)", i, s.cfg.MaxCandidateSize)
		}
	}
	return nil
}

// compactAll re-encodes each value without insignificant space, so what is stored and
// measured is what JSON.stringify would produce.
func compactAll(l []json.RawMessage) []json.RawMessage {
	out := make([]json.RawMessage, len(l))
	for i, v := range l {
		var buf bytes.Buffer
		if json.Compact(&buf, v) == nil {
			out[i] = buf.Bytes()
		} else {
			out[i] = v
		}
	}
	return out
}

// parseIntPrefix reads an integer the way JavaScript's parseInt(s, 10) does: optional
// leading space and sign, then digits, anything after ignored. ok is false without digits.
func parseIntPrefix(s string) (int64, bool) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
		i++
	}
	start := i
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-digits < 18 {
		i++
	}
	if i == digits {
		return 0, false
	}
	n, err := strconv.ParseInt(s[start:i], 10, 64)
	return n, err == nil
}

// body reads the request's JSON object, answering failures itself.
func (s *Service) body(w http.ResponseWriter, r *http.Request) (fields, bool) {
	b, err := readBody(w, r, s.bodyMax)
	if errors.Is(err, errBodyTooLarge) {
		httpx.Error(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(s.bodyMax, 10)+" bytes")
		return nil, false
	}
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "cannot read body")
		return nil, false
	}
	f, err := decodeFields(b)
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "Invalid JSON body: "+err.Error())
		return nil, false
	}
	return f, true
}

// queryInt reads a non-negative integer query parameter.
func queryInt(r *http.Request, name string, def int) (int, *apiError) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, invalid("%s must be a non-negative integer", name)
	}
	return n, nil
}
