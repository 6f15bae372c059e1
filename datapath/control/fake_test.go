package control

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/ports"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/maps"
)

// The fakes stand for the kernel in tests of the orchestrator's logic:
// they keep what was made, record every call, and fail the calls a test
// names.

var (
	errInjected = errors.New("injected failure")
	errNoDevice = errors.New("no such device")
)

// calls records calls by name and fails those in fail, by name, or by
// name and first argument ("ConfigureInside eth2").
type calls struct {
	log  []string
	fail map[string]bool
}

func (c *calls) call(name string, args ...any) error {
	l := name
	for _, a := range args {
		l += " " + fmt.Sprint(a)
	}
	c.log = append(c.log, l)
	if c.fail[name] || len(args) > 0 && c.fail[name+" "+fmt.Sprint(args[0])] {
		return fmt.Errorf("%s: %w", name, errInjected)
	}
	return nil
}

func (c *calls) called(name string) int {
	n := 0
	for _, l := range c.log {
		if l == name || len(l) > len(name) && l[:len(name)] == name && l[len(name)] == ' ' {
			n++
		}
	}
	return n
}

// fakeDevices is a kernel of devices and namespaces.
type fakeDevices struct {
	calls
	links    map[string]netdev.Link
	netns    map[string]uint64
	prefixes []netip.Prefix
	neigh    []netdev.Neighbour
	next     int
	subs     map[string]netdev.Sub // macvlan and ipvlan devices, by netns/name
	missing  map[string]bool       // device kinds the kernel lacks
}

func newFakeDevices() *fakeDevices {
	return &fakeDevices{calls: calls{fail: map[string]bool{}}, links: map[string]netdev.Link{}, netns: map[string]uint64{}, next: 10}
}

func (f *fakeDevices) add(name, alias string) int {
	f.next++
	f.links[name] = netdev.Link{Name: name, Index: f.next, Alias: alias}
	return f.next
}

func (f *fakeDevices) LinkExists(name string) bool { _, ok := f.links[name]; return ok }
func (f *fakeDevices) LinkIndex(name string) int   { return f.links[name].Index }
func (f *fakeDevices) LinkName(idx int) string {
	for _, l := range f.links {
		if l.Index == idx {
			return l.Name
		}
	}
	return ""
}
func (f *fakeDevices) Links() ([]netdev.Link, error) {
	var out []netdev.Link
	for _, l := range f.links {
		out = append(out, l)
	}
	return out, f.call("Links")
}
func (f *fakeDevices) HostNets() ([]netdev.HostNet, error) {
	var out []netdev.HostNet
	for _, p := range f.prefixes {
		out = append(out, netdev.HostNet{Prefix: p, What: "route " + p.String() + " dev up0"})
	}
	return out, f.call("HostNets")
}
func (f *fakeDevices) Neighbours() ([]netdev.Neighbour, error) { return f.neigh, f.call("Neighbours") }
func (f *fakeDevices) EnsureBridge(b netdev.Bridge) (int, error) {
	if err := f.call("EnsureBridge", b.Name); err != nil {
		return 0, err
	}
	if l, ok := f.links[b.Name]; ok {
		return l.Index, nil
	}
	return f.add(b.Name, b.Alias), nil
}
func (f *fakeDevices) DeleteOwned(name, alias string) error {
	if err := f.call("DeleteOwned", name); err != nil {
		return err
	}
	if f.links[name].Alias == alias {
		delete(f.links, name)
	}
	return nil
}
func (f *fakeDevices) NetnsIno(path string) (uint64, error) {
	if ino, ok := f.netns[path]; ok {
		return ino, nil
	}
	return 0, fmt.Errorf("%s: no such file or directory", path)
}
func (f *fakeDevices) CreateNetns(path string) error {
	if err := f.call("CreateNetns", path); err != nil {
		return err
	}
	f.netns[path] = uint64(len(f.netns) + 1000)
	return nil
}
func (f *fakeDevices) DeleteNetns(path string) error {
	delete(f.netns, path)
	return f.call("DeleteNetns", path)
}
func (f *fakeDevices) EnsureVeth(v netdev.Veth) (int, error) {
	if err := f.call("EnsureVeth", v.Host); err != nil {
		return 0, err
	}
	if _, ok := f.netns[v.Netns]; !ok && v.Netns != "" {
		return 0, fmt.Errorf("open netns %s: gone", v.Netns)
	}
	if l, ok := f.links[v.Host]; ok {
		return l.Index, nil
	}
	if v.Netns == "" { // a handoff: the far end is made in the node
		f.add(v.Peer, "")
	}
	return f.add(v.Host, v.Alias), nil
}
func (f *fakeDevices) PlugVeth(host, bridge string) error { return f.call("PlugVeth", host, bridge) }
func (f *fakeDevices) ConfigureInside(in netdev.Inside) error {
	return f.call("ConfigureInside", in.Ifname, in.Addr, in.Gateway)
}
func (f *fakeDevices) FreeIfname(_ string, taken map[string]bool) (string, error) {
	for i := range 10 {
		if name := fmt.Sprintf("eth%d", i); !taken[name] {
			return name, f.call("FreeIfname")
		}
	}
	return "", netdev.ErrNoFreeIfname
}

// fakeDatapath is the maps and programs.
type fakeDatapath struct {
	calls
	networks  map[uint32]maps.Network
	ifaces    map[int]maps.Iface
	endpoints map[netip.Addr]maps.Endpoint
	attached  map[string]bool // host veths with enet_from_ep
	bridges   map[string]bool // bridges with enet_to_br
	swept     *Desired
}

func newFakeDatapath() *fakeDatapath {
	return &fakeDatapath{calls: calls{fail: map[string]bool{}}, networks: map[uint32]maps.Network{},
		ifaces: map[int]maps.Iface{}, endpoints: map[netip.Addr]maps.Endpoint{}, attached: map[string]bool{},
		bridges: map[string]bool{}}
}

func (f *fakeDatapath) PutNetwork(n maps.Network) error {
	if err := f.call("PutNetwork", n.ID); err != nil {
		return err
	}
	f.networks[n.ID] = n
	return nil
}
func (f *fakeDatapath) DeleteNetwork(id uint32, _ netip.Prefix) error {
	delete(f.networks, id)
	return f.call("DeleteNetwork", id)
}
func (f *fakeDatapath) PutIface(i maps.Iface) error {
	if err := f.call("PutIface", i.Ifindex); err != nil {
		return err
	}
	f.ifaces[i.Ifindex] = i
	return nil
}
func (f *fakeDatapath) ForgetIface(idx int) error {
	delete(f.ifaces, idx)
	return f.call("ForgetIface", idx)
}
func (f *fakeDatapath) AttachEndpoint(name string, _ int) error {
	if err := f.call("AttachEndpoint", name); err != nil {
		return err
	}
	f.attached[name] = true
	return nil
}
func (f *fakeDatapath) DetachEndpoint(name string, _ int) error {
	delete(f.attached, name)
	return f.call("DetachEndpoint", name)
}
func (f *fakeDatapath) AttachBridge(name string, _ int) error {
	if err := f.call("AttachBridge", name); err != nil {
		return err
	}
	f.bridges[name] = true
	return nil
}
func (f *fakeDatapath) DetachBridge(name string, _ int) error {
	delete(f.bridges, name)
	return f.call("DetachBridge", name)
}
func (f *fakeDatapath) DetachAll(name string, _ int) error {
	delete(f.attached, name)
	return f.call("DetachAll", name)
}
func (f *fakeDatapath) PutEndpoint(e maps.Endpoint) error {
	if err := f.call("PutEndpoint", e.IP); err != nil {
		return err
	}
	f.endpoints[e.IP] = e
	return nil
}
func (f *fakeDatapath) DeleteEndpoint(ip netip.Addr) error {
	delete(f.endpoints, ip)
	return f.call("DeleteEndpoint", ip)
}
func (f *fakeDatapath) Sweep(d Desired) error { f.swept = &d; return f.call("Sweep") }

// fakePublisher holds what the datapath would publish, by store key.
type fakePublisher struct {
	calls
	active map[string]netip.Addr
}

func newFakePublisher() *fakePublisher {
	return &fakePublisher{calls: calls{fail: map[string]bool{}}, active: map[string]netip.Addr{}}
}

func (f *fakePublisher) Activate(pubs []ports.Publication, target netip.Addr) error {
	if err := f.call("Activate", len(pubs)); err != nil {
		return err
	}
	for _, p := range pubs {
		f.active[p.Port.Key()] = target
	}
	return nil
}
func (f *fakePublisher) Published(string, []ports.Publication, netip.Addr) { _ = f.call("Published") }
func (f *fakePublisher) Withdraw(gone []store.Port, _ netip.Addr) error {
	for _, p := range gone {
		delete(f.active, p.Key())
	}
	return f.call("Withdraw", len(gone))
}
func (f *fakePublisher) Retarget(moved []store.Port, target netip.Addr) error {
	for _, p := range moved {
		f.active[p.Key()] = target
	}
	return f.call("Retarget", len(moved), target)
}
func (f *fakePublisher) Restore(live, gone []store.Port, targets map[string]netip.Addr) error {
	clear(f.active)
	for _, p := range live {
		f.active[p.Key()] = targets[p.Endpoint]
	}
	return f.call("Restore", len(live), len(gone))
}
func (f *fakePublisher) Release(ports []store.Port) error {
	for _, p := range ports {
		delete(f.active, p.Key())
	}
	return f.call("Release", len(ports))
}
func (f *fakePublisher) Reactivate(ports []store.Port, target netip.Addr) error {
	for _, p := range ports {
		f.active[p.Key()] = target
	}
	return f.call("Reactivate", len(ports), target)
}

// rig is an orchestrator on fakes and a store in a temp dir, with its log
// observed.
type rig struct {
	*Control
	dev  *fakeDevices
	dp   *fakeDatapath
	pub  *fakePublisher
	logs *observer.ObservedLogs
}

// newRig is an orchestrator on fakes, its Config changed by the edits.
func newRig(t *testing.T, edits ...func(*Config)) *rig {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	core, logs := observer.New(zap.DebugLevel)
	r := &rig{dev: newFakeDevices(), dp: newFakeDatapath(), pub: newFakePublisher(), logs: logs}
	cfg := Config{MTU: 1500, OwnNetns: 1}
	for _, e := range edits {
		e(&cfg)
	}
	r.Control = New(cfg, st, r.dev, r.dp, r.pub, zap.New(core))
	return r
}

// stored is what the store holds: network names, endpoint names with
// their interfaces' networks, and publication keys.
func (r *rig) stored(t *testing.T) (nets, eps, pubs []string) {
	t.Helper()
	err := r.store.View(func(tx *store.Tx) error {
		ns, err := tx.Networks()
		for _, n := range ns {
			nets = append(nets, n.Name)
		}
		es, err2 := tx.Endpoints()
		for _, e := range es {
			s := e.Name + ":"
			for _, i := range e.Interfaces {
				s += i.Network + ","
			}
			eps = append(eps, s)
		}
		ps, err3 := tx.Ports()
		for _, p := range ps {
			pubs = append(pubs, p.Key())
		}
		return errors.Join(err, err2, err3)
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(nets)
	slices.Sort(eps)
	slices.Sort(pubs)
	return nets, eps, pubs
}
