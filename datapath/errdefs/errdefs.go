// Package errdefs names what kind of failure an error of the control plane
// is, as moby's errdefs does: the domain says "not found" or "conflict",
// and only the API edge (datapath/api) turns a kind into an HTTP status.
package errdefs

import (
	"errors"
	"fmt"
)

// Kind is what went wrong, as a caller may act on it.
type Kind int

const (
	// KindUnknown is every error that says no kind: a failure of the system.
	KindUnknown Kind = iota
	// KindInvalid: the input is wrong; nothing was changed.
	KindInvalid
	// KindNotFound: a named object does not exist.
	KindNotFound
	// KindConflict: the request clashes with existing state.
	KindConflict
	// KindLimit: a limit is reached (a full pool, bridge or port range).
	KindLimit
	// KindUnavailable: something the request needs is missing on this node.
	KindUnavailable
)

var names = map[Kind]string{KindUnknown: "unknown", KindInvalid: "invalid", KindNotFound: "not found",
	KindConflict: "conflict", KindLimit: "limit reached", KindUnavailable: "unavailable"}

func (k Kind) String() string { return names[k] }

// Sentinels for errors.Is: errors.Is(err, errdefs.ErrNotFound) holds for
// every error of kind NotFound, however it was wrapped.
var (
	ErrInvalid     error = KindInvalid
	ErrNotFound    error = KindNotFound
	ErrConflict    error = KindConflict
	ErrLimit       error = KindLimit
	ErrUnavailable error = KindUnavailable
)

// Error makes a Kind usable as a sentinel.
func (k Kind) Error() string { return k.String() }

// kindError is an error with its kind.
type kindError struct {
	kind Kind
	msg  string
}

func (e *kindError) Error() string { return e.msg }

// Is matches the sentinel of the error's kind.
func (e *kindError) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.kind
}

func newf(k Kind, format string, args ...any) error {
	return &kindError{kind: k, msg: fmt.Sprintf(format, args...)}
}

// Invalid is an error of kind KindInvalid.
func Invalid(format string, args ...any) error { return newf(KindInvalid, format, args...) }

// NotFound is an error of kind NotFound.
func NotFound(format string, args ...any) error { return newf(KindNotFound, format, args...) }

// Conflict is an error of kind KindConflict.
func Conflict(format string, args ...any) error { return newf(KindConflict, format, args...) }

// Limit is an error of kind KindLimit.
func Limit(format string, args ...any) error { return newf(KindLimit, format, args...) }

// Unavailable is an error of kind KindUnavailable.
func Unavailable(format string, args ...any) error { return newf(KindUnavailable, format, args...) }

// KindOf is the kind of the first error in err's tree that has one, or
// KindUnknown.
func KindOf(err error) Kind {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	return KindUnknown
}
