package api

import (
	"errors"
	"fmt"
	"net/http"
)

// StatusError is an error with the HTTP status the server answers with.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

// BadRequest: the input is wrong; nothing was changed.
func BadRequest(format string, args ...any) error {
	return &StatusError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// NotFound: a named object does not exist.
func NotFound(format string, args ...any) error {
	return &StatusError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

// Conflict: the request clashes with existing state.
func Conflict(format string, args ...any) error {
	return &StatusError{http.StatusConflict, fmt.Sprintf(format, args...)}
}

// Code is the HTTP status for err: its StatusError's, or 500.
func Code(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return http.StatusInternalServerError
}
