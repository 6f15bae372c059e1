package maps

import (
	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Set holds a typed view of every map of a loaded datapath.
type Set struct {
	Endpoints Endpoints
	Ifaces    Ifaces
	Networks  Networks
	Stats     Stats
	Config    Config
	CT        CT
	NAT       NAT
	Ports     Ports
	SockRevs  SockRevs
	DNSNetns  DNSNetns
	DNSNames  DNSNames
	Frags     Frags
	NodeAddrs NodeAddrs
	Prefilter Prefilter
	// Events is enet_events, the ring buffer the monitor reads.
	Events *ebpf.Map
}

// For returns the typed views of dp's maps.
func For(dp *loader.Datapath) *Set {
	m := dp.EnetMaps
	return &Set{
		Endpoints: Endpoints{m.EnetEndpoints},
		Ifaces:    Ifaces{m.EnetIfaces},
		Networks:  Networks{Networks: m.EnetNetworks, Subnets: m.EnetSubnets},
		Stats:     Stats{m.EnetStats},
		Config:    Config{m.EnetConfig},
		CT:        newCT(m.EnetCt, m.EnetCtNew),
		NAT:       newNAT(m.EnetNat, m.EnetNatNew),
		Ports:     Ports{m.EnetPorts},
		SockRevs:  SockRevs{m.EnetSockRev},
		DNSNetns:  DNSNetns{m.EnetDnsNs},
		DNSNames:  DNSNames{m.EnetDnsNames},
		Frags:     Frags{m.EnetFrags},
		NodeAddrs: NodeAddrs{m.EnetNodeAddrs},
		Prefilter: Prefilter{m.EnetPrefilter},
		Events:    m.EnetEvents,
	}
}
