package sse

import (
	"bytes"
	"strings"
	"testing"
)

// parse is a reading of the SSE spec's parser for one event: lines end at CRLF, LF or CR;
// "field: value" with one optional space; data lines joined with "\n".
func parse(b []byte) (id, event, data string, ok bool) {
	s := string(b)
	if !strings.HasSuffix(s, "\n\n") {
		return "", "", "", false
	}
	var datas []string
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n\n"), "\n") {
		if line == "" || strings.ContainsRune(line, '\r') {
			return "", "", "", false // an empty line would end the event early
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "event":
			event = value
		case "data":
			datas = append(datas, value)
		default:
			return "", "", "", false
		}
	}
	return id, event, strings.Join(datas, "\n"), true
}

func FuzzFormat(f *testing.F) {
	f.Add("1:2", "pub", []byte(`{"a":1}`))
	f.Add("", "", []byte("line1\nline2\r\nline3\rline4"))
	f.Add("x\ny", "ev\r", []byte("\n\n"))
	f.Add("", "join", []byte(""))
	f.Fuzz(func(t *testing.T, id, event string, data []byte) {
		out := Format(id, event, data)
		gotID, gotEvent, gotData, ok := parse(out)
		if !ok {
			t.Fatalf("not one well-formed event: %q", out)
		}
		if gotID != oneLine(id) || gotEvent != oneLine(event) {
			t.Fatalf("id/event %q %q from %q %q", gotID, gotEvent, id, event)
		}
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(data))
		if gotData != want {
			t.Fatalf("data %q, want %q", gotData, want)
		}
		if bytes.Contains(out[:len(out)-2], []byte("\n\n")) {
			t.Fatalf("event ends early: %q", out)
		}
	})
}
