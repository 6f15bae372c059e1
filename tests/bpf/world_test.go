package bpftest

import (
	"net"
	"net/netip"
	"testing"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// The world the enet_from_ep tests run in: three networks, one with icc
// off, their endpoints, and an endpoint whose network entry is missing.
var (
	web = maps.Network{
		ID: 1, Subnet: netip.MustParsePrefix("10.10.0.0/24"), Gateway: addr("10.10.0.1"),
		BridgeIfindex: 100, GatewayMAC: hw("02:00:00:0a:0a:01"), ICC: true,
	}
	db = maps.Network{
		ID: 2, Subnet: netip.MustParsePrefix("10.20.0.0/24"), Gateway: addr("10.20.0.1"),
		BridgeIfindex: 200, GatewayMAC: hw("02:00:00:0a:14:01"), ICC: true,
	}
	quiet = maps.Network{ // icc=false
		ID: 3, Subnet: netip.MustParsePrefix("10.30.0.0/24"), Gateway: addr("10.30.0.1"),
		BridgeIfindex: 300, GatewayMAC: hw("02:00:00:0a:1e:01"),
	}

	web1   = Endpoint{Ifindex: 11, IP: addr("10.10.0.2"), MAC: hw("02:42:0a:0a:00:02"), NetID: 1}
	web2   = Endpoint{Ifindex: 12, IP: addr("10.10.0.3"), MAC: hw("02:42:0a:0a:00:03"), NetID: 1}
	db1    = Endpoint{Ifindex: 21, IP: addr("10.20.0.2"), MAC: hw("02:42:0a:14:00:02"), NetID: 2}
	quiet1 = Endpoint{Ifindex: 31, IP: addr("10.30.0.2"), MAC: hw("02:42:0a:1e:00:02"), NetID: 3}
	quiet2 = Endpoint{Ifindex: 32, IP: addr("10.30.0.3"), MAC: hw("02:42:0a:1e:00:03"), NetID: 3}
	orphan = Endpoint{Ifindex: 41, IP: addr("10.40.0.2"), MAC: hw("02:42:0a:28:00:02"), NetID: 4} // network 4 is never written

	networks  = []maps.Network{web, db, quiet}
	endpoints = []Endpoint{web1, web2, db1, quiet1, quiet2, orphan}
)

// Short names for the verdict reasons, so the tables read.
const (
	fwdPeer   = loader.EnetReasonREASON_FWD_PEER
	toBridge  = loader.EnetReasonREASON_TO_BRIDGE
	malformed = loader.EnetReasonREASON_DROP_MALFORMED
	noIface   = loader.EnetReasonREASON_DROP_NO_IFACE
	spoofMAC  = loader.EnetReasonREASON_DROP_SPOOF_MAC
	spoofIP   = loader.EnetReasonREASON_DROP_SPOOF_IP
	isolation = loader.EnetReasonREASON_DROP_ISOLATION
	iccOff    = loader.EnetReasonREASON_DROP_ICC
	badProto  = loader.EnetReasonREASON_DROP_PROTO
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func hw(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// fromEpWorld fills d with three networks and their endpoints.
func fromEpWorld(d *Datapath) *Datapath {
	for _, n := range networks {
		d.PutNetwork(n)
	}
	for _, e := range endpoints {
		d.PutEndpoint(e)
	}
	return d
}

// udp is a UDP packet from an endpoint, framed the way it sends whatever
// it routes: to its gateway's MAC. The delivery case shows the rewrite
// because of that.
func udp(t *testing.T, from Endpoint, dst string) []byte {
	return udpVia(t, from, gatewayMAC(from.NetID), dst)
}

func udpVia(t *testing.T, from Endpoint, dstMAC net.HardwareAddr, dst string) []byte {
	return UDPv4(t, from.MAC, dstMAC, from.IP, addr(dst))
}

func gatewayMAC(netID uint32) net.HardwareAddr {
	for _, n := range networks {
		if n.ID == netID {
			return n.GatewayMAC
		}
	}
	return Broadcast // the orphan's network is missing
}
