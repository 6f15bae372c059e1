package control

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// recordNames is a Names that keeps what each Sync was told, as
// "endpoint:network=alias|alias" per interface.
type recordNames struct{ syncs [][]string }

func (r *recordNames) Sync(_ []store.Network, eps []store.Endpoint) {
	var s []string
	for _, e := range eps {
		for _, i := range e.Interfaces {
			s = append(s, e.Name+":"+i.Network+"="+strings.Join(i.Aliases, "|"))
		}
	}
	r.syncs = append(r.syncs, s)
}

func (r *recordNames) last() []string { return r.syncs[len(r.syncs)-1] }

// Issue 13: aliases are per network, checked and kept in the store, and
// every change reaches the names before its call returns.
func TestAliases(t *testing.T) {
	names := &recordNames{}
	r := newRig(t, func(c *Config) { c.Names = names })
	mustNetwork(t, r, "a", "10.0.0.0/24")
	mustNetwork(t, r, "b", "10.1.0.0/24")
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "x", Network: "a", Aliases: []string{"api", "API", "db"}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"x:a=api|db"}; !slices.Equal(names.last(), want) {
		t.Fatalf("names after create: %v, want %v (a repeat in another case dropped)", names.last(), want)
	}
	if _, err := r.Connect(ctx, "b", api.Connect{Endpoint: "x", Aliases: []string{"cache"}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"x:a=api|db", "x:b=cache"}; !slices.Equal(names.last(), want) {
		t.Fatalf("names after connect: %v, want %v", names.last(), want)
	}
	v, err := NewAliaser(r.Control).SetAliases(ctx, "x", api.Aliases{Network: "a", Aliases: []string{"web"}})
	if err != nil || !slices.Equal(v.Interfaces[0].Aliases, []string{"web"}) {
		t.Fatalf("set aliases: %+v, %v", v, err)
	}
	if want := []string{"x:a=web", "x:b=cache"}; !slices.Equal(names.last(), want) {
		t.Fatalf("names after the re-alias: %v, want %v", names.last(), want)
	}
	if _, err := r.Disconnect(ctx, "b", api.Connect{Endpoint: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveEndpoint(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if len(names.last()) != 0 {
		t.Fatalf("names after rm: %v", names.last())
	}
	if _, err := NewAliaser(r.Control).SetAliases(ctx, "x", api.Aliases{Network: "a"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("aliases of a removed endpoint: %v", err)
	}
}

func TestCheckAliasesAndDNS(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, bad := range [][]string{{""}, {"a b"}, {"-a"}, {"a..b"}, {long}, {"a/b"}, {strings.Repeat("a.", 100)}} {
		if _, err := checkAliases(bad); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("alias %q: %v, want invalid", bad, err)
		}
	}
	if got, err := checkAliases([]string{"a_b", "x-1.web", "A_B"}); err != nil || !slices.Equal(got, []string{"a_b", "x-1.web"}) {
		t.Errorf("good aliases: %v, %v", got, err)
	}
	for _, bad := range []api.DNSConf{{Servers: []string{"::1"}}, {Servers: []string{"x"}}, {Search: []string{"a b"}},
		{Options: []string{"ndots:1\nnameserver 1.2.3.4"}}, {Search: make([]string, 17)}} {
		if _, err := checkDNSConf(bad); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("dns %+v: %v, want invalid", bad, err)
		}
	}
}
