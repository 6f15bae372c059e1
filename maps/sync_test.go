package maps

import (
	"errors"
	"maps"
	"slices"
	"testing"
)

// syncEntries writes only what differs, deletes what went, and reports
// in what it returns what a failed write or delete left.
func TestSyncEntries(t *testing.T) {
	have := map[string]int{"same": 1, "changed": 1, "gone": 1, "stuck": 1, "fails": 1}
	want := map[string]int{"same": 1, "changed": 2, "new": 3, "fails": 5}
	var puts, dels []string
	put := func(k string, _ int) error {
		puts = append(puts, k)
		if k == "fails" {
			return errors.New("no")
		}
		return nil
	}
	del := func(k string) error {
		dels = append(dels, k)
		if k == "stuck" {
			return errors.New("no")
		}
		return nil
	}
	now, err := syncEntries(have, want, func(a, b int) bool { return a == b }, put, del)
	if err == nil {
		t.Fatal("failed writes reported no error")
	}
	slices.Sort(puts)
	slices.Sort(dels)
	if !slices.Equal(puts, []string{"changed", "fails", "new"}) || !slices.Equal(dels, []string{"gone", "stuck"}) {
		t.Fatalf("puts %v, deletes %v", puts, dels)
	}
	if wantNow := map[string]int{"same": 1, "changed": 2, "new": 3, "fails": 1, "stuck": 1}; !maps.Equal(now, wantNow) {
		t.Fatalf("now %v, want %v", now, wantNow)
	}
}
