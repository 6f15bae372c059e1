package e2e

import (
	"net/netip"
	"testing"
)

// The node's own connections to an endpoint and hairpin flows to it both
// come from the network's gateway, so neither may take the other's
// tuple, or the endpoint's answers to one go to the other. Found by the
// benchmark's 127.0.0.1 CRR, whose connects timed out now and then: the
// kernel had picked a source port that a closed hairpin flow still held
// in TIME_WAIT. netfilter keeps the node's connections in the table its
// NAT picks from; ebpfnet records them as they go into the bridge.
func TestNodeAndHairpinShareNoTuple(t *testing.T) {
	t.Parallel()
	w, srv, _ := srvWorld(t, "peer")
	w.MustCLI("publish", srv, "8080:80", "5353:53/udp")
	var (
		peer    = w.Name("peer")
		gw      = netip.MustParseAddr("10.10.0.1")
		peerIP  = netip.MustParseAddr("10.10.0.3")
		srvTCP  = "10.10.0.2:80"
		srvUDP  = "10.10.0.2:53"
		nodeTCP = "198.51.100.1:8080"
	)
	t.Run("the node on a closed hairpin flow's tuple", func(t *testing.T) {
		conn, reply, err := askTCPReusing(peer, netip.AddrPortFrom(peerIP, 40000), nodeTCP)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close() // the flow stays, in TIME_WAIT
		hairpin := srvPeer(t, reply)
		conn, reply, err = askTCPReusing(w.Node, netip.AddrPortFrom(gw, hairpin.Port()), srvTCP)
		if err != nil {
			t.Fatalf("the node from %s:%d, the hairpin flow's tuple: %v", gw, hairpin.Port(), err)
		}
		conn.Close()
		if seen := srvPeer(t, reply); seen.Addr() != gw || seen.Port() == hairpin.Port() {
			t.Fatalf("the endpoint saw the node from %s; want %s and another port than %d", seen, gw, hairpin.Port())
		}
	})
	t.Run("a hairpin flow on an open node connection's tuple", func(t *testing.T) {
		local := netip.AddrPortFrom(gw, 40001)
		conn, reply, err := askTCPReusing(w.Node, local, srvTCP)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if seen := srvPeer(t, reply); seen != local {
			t.Fatalf("the endpoint saw the node from %s, want %s", seen, local)
		}
		hconn, reply, err := askTCPReusing(peer, netip.AddrPortFrom(peerIP, 40001), nodeTCP)
		if err != nil {
			t.Fatal(err)
		}
		hconn.Close()
		if seen := srvPeer(t, reply); seen.Addr() != gw || seen.Port() == local.Port() {
			t.Fatalf("the endpoint saw the hairpin flow from %s; want %s and another port than %d", seen, gw, local.Port())
		}
	})
	t.Run("UDP from the node on a hairpin flow's tuple", func(t *testing.T) {
		replies, err := askUDPFromOnePort(peer, netip.AddrPortFrom(peerIP, 40002), "198.51.100.1:5353")
		if err != nil {
			t.Fatal(err)
		}
		hairpin := srvPeer(t, replies[0])
		replies, err = askUDPFromOnePort(w.Node, netip.AddrPortFrom(gw, hairpin.Port()), srvUDP)
		if err != nil {
			t.Fatalf("the node from %s:%d, the hairpin flow's tuple: %v", gw, hairpin.Port(), err)
		}
		if seen := srvPeer(t, replies[0]); seen.Addr() != gw || seen.Port() == hairpin.Port() {
			t.Fatalf("the endpoint saw the node from %s; want %s and another port than %d", seen, gw, hairpin.Port())
		}
	})
}
