package broker

import "strings"

// subjectToken writes a channel name as one NATS subject token: [A-Za-z0-9_/-] stay as they
// are, every other byte becomes =XX (upper-case hex). The result never holds '.', '*', '>',
// a space or a control byte, so any channel name is exactly one token, and it is readable in
// `nats sub`. The mapping is one-to-one ('=' itself is escaped), so two channels never share
// a subject.
func subjectToken(ch string) string {
	plain := true
	for i := 0; i < len(ch); i++ {
		if !subjectSafe(ch[i]) {
			plain = false
			break
		}
	}
	if plain && ch != "" {
		return ch
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(ch) + 8)
	if ch == "" {
		// The empty channel name is not a valid token; "=" alone is no escape of anything.
		return "="
	}
	for i := 0; i < len(ch); i++ {
		c := ch[i]
		if subjectSafe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xF])
	}
	return b.String()
}

func subjectSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '/' || c == '-'
}
