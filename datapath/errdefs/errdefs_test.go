package errdefs

import (
	"errors"
	"fmt"
	"testing"
)

func TestKinds(t *testing.T) {
	cases := []struct {
		name string
		err  error
		kind Kind
		is   error
	}{
		{"plain", errors.New("disk full"), KindUnknown, nil},
		{"invalid", Invalid("bad %s", "x"), KindInvalid, ErrInvalid},
		{"wrapped", fmt.Errorf("create: %w", NotFound("no %q", "web")), KindNotFound, ErrNotFound},
		{"joined", errors.Join(nil, Conflict("taken")), KindConflict, ErrConflict},
		{"joined behind a plain one", errors.Join(errors.New("io"), Limit("full")), KindLimit, ErrLimit},
		{"unavailable", Unavailable("no sctp"), KindUnavailable, ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := KindOf(tc.err); got != tc.kind {
				t.Fatalf("KindOf = %v, want %v", got, tc.kind)
			}
			for _, s := range []error{ErrInvalid, ErrNotFound, ErrConflict, ErrLimit, ErrUnavailable} {
				if got, want := errors.Is(tc.err, s), tc.is != nil && s.Error() == tc.is.Error(); got != want {
					t.Errorf("errors.Is(%v, %v) = %v", tc.err, s, got)
				}
			}
		})
	}
	if msg := Invalid("subnet %q is bad", "x").Error(); msg != `subnet "x" is bad` {
		t.Fatalf("message %q", msg)
	}
}
