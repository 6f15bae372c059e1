package bpftest

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// TestReasonNames reads enum reason from the object's BTF, so a reason
// added in C without a name in maps fails here, not in a user's stats.
func TestReasonNames(t *testing.T) {
	spec, err := loader.LoadEnet()
	if err != nil {
		t.Fatal(err)
	}
	var reason *btf.Enum
	if err := spec.Types.TypeByName("reason", &reason); err != nil {
		t.Fatalf("find enum reason: %v", err)
	}
	seen := map[string]string{}
	for _, v := range reason.Values {
		if v.Name == "REASON_MAX" {
			continue
		}
		r := maps.Reason(v.Value)
		if r >= loader.EnetReasonREASON_MAX {
			t.Errorf("%s = %d is not below REASON_MAX", v.Name, v.Value)
		}
		name := maps.ReasonName(r)
		if name == fmt.Sprintf("reason-%d", r) {
			t.Errorf("%s has no name in maps.ReasonName", v.Name)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("%s and %s are both named %q", other, v.Name, name)
		}
		seen[name] = v.Name
	}
}
