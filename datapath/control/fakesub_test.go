package control

import (
	"net"

	"github.com/ebpfnet/ebpfnet/datapath/netdev"
)

// The fake kernel's side of modes and macvlan/ipvlan networks: devices
// made inside namespaces are kept by "netns/name", and kinds the kernel
// lacks are named in missing.

var fakeParentMAC = net.HardwareAddr{0x52, 0x54, 0, 0xab, 0xcd, 0xef}

func (f *fakeDevices) LoopbackUp(netns string) error { return f.call("LoopbackUp", netns) }

func (f *fakeDevices) Info(name string) (netdev.LinkInfo, error) {
	l, ok := f.links[name]
	if !ok {
		return netdev.LinkInfo{}, errNoDevice
	}
	return netdev.LinkInfo{Name: name, Index: l.Index, Kind: "veth", Alias: l.Alias, MTU: 1500, MAC: fakeParentMAC}, nil
}

func (f *fakeDevices) EnsureParent(p netdev.Parent) error {
	if f.missing[p.Kind] {
		return &netdev.FeatureError{Kind: p.Kind}
	}
	if err := f.call("EnsureParent", p.Name); err != nil {
		return err
	}
	if _, ok := f.links[p.Name]; !ok {
		f.add(p.Name, p.Alias)
	}
	return nil
}

func (f *fakeDevices) ProbeSub(kind, parent string) error {
	if f.missing[kind] {
		return &netdev.FeatureError{Kind: kind}
	}
	return f.call("ProbeSub", kind, parent)
}

func (f *fakeDevices) EnsureSub(s netdev.Sub) error {
	if f.missing[s.Kind] {
		return &netdev.FeatureError{Kind: s.Kind}
	}
	if err := f.call("EnsureSub", s.Name, s.Parent, s.Mode, s.MAC); err != nil {
		return err
	}
	if f.subs == nil {
		f.subs = map[string]netdev.Sub{}
	}
	f.subs[s.Netns+"/"+s.Name] = s
	return nil
}

func (f *fakeDevices) DeleteSub(netns, name, _ string) error {
	delete(f.subs, netns+"/"+name)
	return f.call("DeleteSub", netns, name)
}
