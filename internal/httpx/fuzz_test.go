package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"channel":"a","data":{"b":[1,2]}}`, `{"channel":5}`, `{}{}`, ``, `{"x":`, `[1]`, `"\ud800"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var v struct {
			Channel string          `json:"channel"`
			Data    json.RawMessage `json:"data"`
			Limit   int             `json:"limit"`
		}
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		err := Decode(httptest.NewRecorder(), r, 256, &v)
		if err == nil {
			if v.Data != nil && !json.Valid(v.Data) {
				t.Fatalf("accepted invalid data %q", v.Data)
			}
			return
		}
		var de *DecodeError
		if !errors.As(err, &de) || (de.Status != http.StatusBadRequest && de.Status != http.StatusRequestEntityTooLarge) {
			t.Fatalf("error %v is not a 400/413 DecodeError", err)
		}
	})
}
