package api

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func decodeBody(body []byte, v any) error {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	switch v := v.(type) {
	case *NetworkCreate:
		return decode(r, v)
	case *EndpointCreate:
		return decode(r, v)
	case *Publish:
		return decode(r, v)
	case *empty:
		return decode(r, v)
	}
	panic("unknown type")
}

func TestDecode(t *testing.T) {
	big := `{"name":"` + strings.Repeat("a", maxBody) + `"}`
	tests := []struct {
		name string
		body string
		into any
		code int // 0: accepted
	}{
		{"network", `{"name":"web","subnet":"10.0.0.0/24"}`, &NetworkCreate{}, 0},
		{"no input, empty body", ``, &empty{}, 0},
		{"no input, empty object", `{}`, &empty{}, 0},
		{"empty body", ``, &NetworkCreate{}, 400},
		{"malformed", `{"name":`, &NetworkCreate{}, 400},
		{"unknown field", `{"name":"web","colour":"red"}`, &NetworkCreate{}, 400},
		{"wrong type", `{"name":42}`, &NetworkCreate{}, 400},
		{"wrong type nested", `{"name":"e","publish":"80"}`, &EndpointCreate{}, 400},
		{"two values", `{"name":"a"}{"name":"b"}`, &NetworkCreate{}, 400},
		{"trailing garbage", `{"name":"a"} x`, &NetworkCreate{}, 400},
		{"array", `[]`, &Publish{}, 400},
		{"null specs element", `{"specs":[null]}`, &Publish{}, 0},
		{"oversized", big, &NetworkCreate{}, 413},
		{"body where none is taken", `{"x":1}`, &empty{}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeBody([]byte(tc.body), tc.into)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if got := Code(err); got != tc.code {
				t.Fatalf("code %d (%v), want %d", got, err, tc.code)
			}
		})
	}
}

// FuzzDecode: no body crashes the decoder, and every rejection is a 4xx.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"name":"web","subnet":"10.0.0.0/24","options":{"icc":"false"}}`,
		`{"name":"api","network":"web","publish":["8080:80"]}`, `{"specs":["80"]}`, `{}`, ``, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&NetworkCreate{}, &EndpointCreate{}, &Publish{}} {
			err := decodeBody(body, v)
			var se *StatusError
			if err != nil && (!errors.As(err, &se) || se.Code < 400 || se.Code > 499) {
				t.Fatalf("body %q: error %v is not a 4xx", body, err)
			}
		}
	})
}
