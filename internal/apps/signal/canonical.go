package signal

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
)

// CanonicalJSON renders a value parsed by encoding/json (nil, bool, float64, string, []any,
// map[string]any) the way rondevu's canonicalJSON does in JavaScript (spec A1.4), so a
// signature over the client's rendering verifies here: no white space, object keys sorted by
// UTF-16 code units, numbers as Number.prototype.toString, strings as JSON.stringify. Go's
// encoding/json differs (it escapes <, >, & and U+2028/2029). undefinedValue renders as the
// bare word undefined, which the real client signs for a property set to undefined.
func CanonicalJSON(v any) (string, error) {
	var b strings.Builder
	if err := writeCanonical(&b, v, 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

// undefinedValue stands for a JavaScript property whose value is undefined.
type undefinedValue struct{}

var errTooDeep = errors.New("canonical JSON nested deeper than 100")

func writeCanonical(b *strings.Builder, v any, depth int) error {
	if depth > 100 {
		return errTooDeep
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case undefinedValue:
		b.WriteString("undefined")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case float64:
		b.WriteString(jsNumber(x))
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return err
		}
		b.WriteString(jsNumber(f))
	case string:
		writeJSString(b, x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareUTF16)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSString(b, k)
			b.WriteByte(':')
			if err := writeCanonical(b, x[k], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return errors.New("canonical JSON: unsupported value")
	}
	return nil
}

// compareUTF16 orders strings by UTF-16 code units, JavaScript's default sort. It differs
// from Go's byte order only when a character above U+FFFF meets one in U+E000–U+FFFF.
func compareUTF16(a, b string) int {
	if isASCII(a) && isASCII(b) {
		return strings.Compare(a, b)
	}
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// writeJSString writes s as JSON.stringify does.
func writeJSString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// jsNumber formats f as ECMAScript's Number::toString: the shortest digits that round-trip,
// in plain notation when the decimal exponent n satisfies -6 < n <= 21, else as d.ddde±x.
func jsNumber(f float64) string {
	if f == 0 {
		return "0" // -0 too
	}
	if f < 0 {
		return "-" + jsNumber(-f)
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±xx
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		return digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return "0." + strings.Repeat("0", -n) + digits
	}
	sign := "+"
	if n-1 < 0 {
		sign = "-"
	}
	exponent := strconv.Itoa(abs(n - 1))
	if k == 1 {
		return digits + "e" + sign + exponent
	}
	return digits[:1] + "." + digits[1:] + "e" + sign + exponent
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
