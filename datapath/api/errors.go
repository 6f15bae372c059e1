package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
)

// StatusError is an error with the HTTP status it travels with: what the
// client returns for a 4xx or 5xx answer, and the server's own errors
// about a request it cannot decode or route.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &StatusError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// codes is the HTTP status of each kind of domain error. A full pool or
// bridge is a 409, as Docker answers it.
var codes = map[errdefs.Kind]int{
	errdefs.KindInvalid:     http.StatusBadRequest,
	errdefs.KindNotFound:    http.StatusNotFound,
	errdefs.KindConflict:    http.StatusConflict,
	errdefs.KindLimit:       http.StatusConflict,
	errdefs.KindUnavailable: http.StatusServiceUnavailable,
}

// Code is the HTTP status for err: its StatusError's, that of its kind,
// or 500.
func Code(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	if c, ok := codes[errdefs.KindOf(err)]; ok {
		return c
	}
	return http.StatusInternalServerError
}
