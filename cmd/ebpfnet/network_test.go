package main

import (
	"strings"
	"testing"
)

// Issue 11, must-hold 4: network prune asks first, as Docker's does, and
// only y or Y is yes.
func TestConfirm(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, "Y": true, " y \n": true, "yes\n": false, "n\n": false,
		"\n": false, "": false} {
		var out strings.Builder
		if got := confirm(strings.NewReader(in), &out, "Sure?"); got != want {
			t.Errorf("answer %q: %v, want %v", in, got, want)
		}
		if out.String() != "Sure? [y/N] " {
			t.Errorf("asked %q", out.String())
		}
	}
}
