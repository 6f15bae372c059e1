// Package bpftest runs the datapath's programs with BPF_PROG_RUN: load the
// real object with private maps, fill the maps, feed a packet to an entry
// point, and assert on the verdict, the packet that comes out, the counters
// and the trace events. Every test gets a datapath of its own (the subtests
// of a table share their parent's, emptied for each by Reuse) and nothing
// is pinned, so tests share no state and leave nothing behind. Programs
// that ask the kernel's FIB run inside a netns of the test's (NewNetns).
// The cgroup socket programs, which BPF_PROG_RUN cannot run, are attached
// for real to a cgroup the test creates for its client processes alone
// (sockworld_test.go).
package bpftest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Datapath is a freshly loaded datapath with tracing on, so every verdict
// of a run shows up in Result.Events.
type Datapath struct {
	*loader.Datapath
	Maps   *maps.Set
	t      testing.TB
	events *ringbuf.Reader
}

// Load loads the datapath with private, unpinned maps and closes it when the
// test ends. It skips the test when not root or when the kernel refuses BPF
// for lack of privileges.
func Load(t testing.TB) *Datapath {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("BPF_PROG_RUN tests require root")
	}
	dp, _, err := loader.Load("", loader.Options{CTMax: 1024, NATMax: 2048})
	if errors.Is(err, os.ErrPermission) {
		t.Skipf("BPF_PROG_RUN tests need the privilege to load BPF: %v", err)
	}
	if err != nil {
		t.Fatalf("load datapath: %v", err)
	}
	return wrap(t, dp)
}

// LoadEdited is Load with the object's map specs changed by edit first,
// for what the real maps never do: a full non-LRU map refuses an entry.
func LoadEdited(t testing.TB, edit func(map[string]*ebpf.MapSpec)) *Datapath {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("BPF_PROG_RUN tests require root")
	}
	spec, err := loader.LoadEnet()
	if err != nil {
		t.Fatalf("load datapath spec: %v", err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	edit(spec.Maps)
	dp := &loader.Datapath{}
	if err := spec.LoadAndAssign(&dp.EnetObjects, nil); err != nil {
		t.Fatalf("load edited datapath: %v", err)
	}
	return wrap(t, dp)
}

// wrap readies a loaded datapath for a test and closes it when the test
// ends.
func wrap(t testing.TB, dp *loader.Datapath) *Datapath {
	t.Helper()
	t.Cleanup(func() { dp.Close() })
	events, err := ringbuf.NewReader(dp.EnetEvents)
	if err != nil {
		t.Fatalf("open enet_events: %v", err)
	}
	t.Cleanup(func() { events.Close() })
	d := &Datapath{Datapath: dp, Maps: maps.For(dp), t: t, events: events}
	d.SetConfig(loader.EnetConfig{Flags: loader.EnetConfigFlagCONFIG_F_TRACE})
	return d
}

// Reuse readies a datapath that Load gave a parent test for one of its
// subtests: it empties every hash and trie map, drains enet_events, turns
// tracing back on and returns the datapath bound to t. Loading costs the
// verifier's pass over every program, far more than a test's runs, so the
// subtests of a large table share one load this way.
func (d *Datapath) Reuse(t testing.TB) *Datapath {
	t.Helper()
	all := reflect.ValueOf(d.EnetMaps)
	for i := range all.NumField() {
		m, ok := all.Field(i).Interface().(*ebpf.Map)
		if !ok || !slices.Contains(clearable, m.Type()) {
			continue
		}
		if err := clearMap(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.drainEvents(); err != nil {
		t.Fatal(err)
	}
	r := *d
	r.t = t
	r.SetConfig(loader.EnetConfig{Flags: loader.EnetConfigFlagCONFIG_F_TRACE})
	return &r
}

// clearable are the map types whose entries can be deleted; the arrays
// (config, scratch) are overwritten instead or hold nothing between runs.
var clearable = []ebpf.MapType{ebpf.Hash, ebpf.LRUHash, ebpf.PerCPUHash, ebpf.LPMTrie}

func clearMap(m *ebpf.Map) error {
	for {
		k, err := m.NextKeyBytes(nil)
		if err != nil {
			return fmt.Errorf("clear %s: %w", m, err)
		}
		if k == nil {
			return nil
		}
		if err := m.Delete(k); err != nil {
			return fmt.Errorf("clear %s: %w", m, err)
		}
	}
}

// SetConfig replaces enet_config; Load turns on CONFIG_F_TRACE.
func (d *Datapath) SetConfig(c loader.EnetConfig) {
	d.t.Helper()
	if err := d.Maps.Config.Set(c); err != nil {
		d.t.Fatal(err)
	}
}

// PutNetwork writes a network and its subnet.
func (d *Datapath) PutNetwork(n maps.Network) {
	d.t.Helper()
	if err := d.Maps.Networks.Put(n); err != nil {
		d.t.Fatal(err)
	}
}

// Endpoint is one endpoint the way the daemon writes it: an enet_ifaces
// entry keyed by its host-side veth, and an enet_endpoints entry.
type Endpoint struct {
	Ifindex int // host-side veth
	IP      netip.Addr
	MAC     net.HardwareAddr // inside the endpoint
	NetID   uint32
}

// PutEndpoint writes both entries of e.
func (d *Datapath) PutEndpoint(e Endpoint) {
	d.t.Helper()
	err := errors.Join(
		d.Maps.Ifaces.Put(maps.Iface{Ifindex: e.Ifindex, IP: e.IP, NetID: e.NetID, MAC: e.MAC}),
		d.Maps.Endpoints.Put(maps.Endpoint{IP: e.IP, Ifindex: e.Ifindex, NetID: e.NetID, MAC: e.MAC}),
	)
	if err != nil {
		d.t.Fatal(err)
	}
}

// Counters returns every enet_stats entry summed over CPUs.
func (d *Datapath) Counters() []maps.Counter {
	d.t.Helper()
	cs, err := d.Maps.Stats.All()
	if err != nil {
		d.t.Fatal(err)
	}
	return cs
}
