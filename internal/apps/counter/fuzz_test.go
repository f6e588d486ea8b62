package counter

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzPayload runs what a click's payload goes through: whatever the client sends, what
// comes out holds no markup character, fits the limits and uses only allowed classes.
func FuzzPayload(f *testing.F) {
	for _, s := range []string{`{"user":"Gast","comment":"","style":" "}`, `{"user":"<script>","comment":"a&b","style":"green evil"}`,
		`{"user":5}`, `[]`, `"x"`, `{"user":"\u0000\u202e x","style":"dotted dotted"}`} {
		f.Add([]byte(s))
	}
	a := &App{styles: set(Default().Styles)}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return
		}
		obj, _ := v.(map[string]any)
		for _, field := range []any{obj["user"], obj["comment"], v} {
			s, ok := clean(field, 15)
			if strings.ContainsAny(s, "<>&") || (ok && (s == "" || utf8.RuneCountInString(s) > 15)) {
				t.Fatalf("clean(%v) = %q, %v", field, s, ok)
			}
		}
		for _, class := range strings.Fields(a.style(obj["style"])) {
			if !a.styles[class] {
				t.Fatalf("style kept %q", class)
			}
		}
	})
}
