package bpftest

import "testing"

// hairpin: an endpoint's packet to a published port of the node goes
// straight to the endpoint behind it, from that endpoint's gateway so the
// answer comes back the same way, and the answer goes back to the first
// endpoint from the published address and port. A port published on every
// address answers on every address of the node: the uplink's, the
// sender's own gateway, and those enet_node_addrs holds; one published on
// one address answers there; internal networks and ports published on
// 127.0.0.1 get no hairpin.
func hairpin(t *testing.T, w *nodeWorld) {
	var (
		fromM2  = out(m2, snatIP).tcp(40000, 8080, tcpSYN) // m2 and m1 share a network
		fromR1  = out(r1, snatIP).tcp(40000, 8080, tcpSYN) // r1 is on another
		fromM1  = out(m1, snatIP).tcp(40000, 8080, tcpSYN) // m1 to itself
		ackM2   = out(m2, snatIP).tcp(40000, 8080, tcpACK)
		dnsR1   = out(r1, snatIP).udp(40000, 5353)
		viaGw   = out(r1, routedNet.Gateway).tcp(40000, 8080, tcpSYN)
		exact   = out(m1, nodeIP2).tcp(40000, 8443, tcpSYN)
		onSnat  = out(m1, snatIP).tcp(40000, 8081, tcpSYN)
		answer  = out(m1, masqNet.Gateway).tcp(80, 40000, tcpSYN|tcpACK) // m1's answer to a hairpin flow
		synTo   = func(e Endpoint, dst string, port uint16) pkt { return out(e, addr(dst)).tcp(40000, port, tcpSYN) }
		started = func(e Endpoint, p pkt) func(n *node) { return func(n *node) { n.fromEp(e, p, hairpinTo(m1)) } }
	)
	cases := []struct {
		name  string
		setup func(n *node)
		from  Endpoint
		in    pkt
		want  verdict
		out   pkt // zero: the packet passes unchanged
		flows []flow
	}{
		{"to the uplink address, from the same network", nil, m2, fromM2, hairpinTo(m1),
			fromM2.hairpinned(m1, 40000, 80), []flow{hairpinFlow(m1, fromM2, 40000, 80)}},
		{"to the uplink address, from another network", nil, r1, fromR1, hairpinTo(m1),
			fromR1.hairpinned(m1, 40000, 80), []flow{hairpinFlow(m1, fromR1, 40000, 80)}},
		{"UDP", nil, r1, dnsR1, hairpinTo(m1), dnsR1.hairpinned(m1, 40000, 53), []flow{hairpinFlow(m1, dnsR1, 40000, 53)}},
		{"to its own gateway", nil, r1, viaGw, hairpinTo(m1), viaGw.hairpinned(m1, 40000, 80),
			[]flow{hairpinFlow(m1, viaGw, 40000, 80)}},
		{"to its own published port", nil, m1, fromM1, hairpinTo(m1), fromM1.hairpinned(m1, 40000, 80),
			[]flow{hairpinFlow(m1, fromM1, 40000, 80)}},
		{"to a port published on another node address", nil, m1, exact, hairpinTo(m2), exact.hairpinned(m2, 40000, 443),
			[]flow{hairpinFlow(m2, exact, 40000, 443)}},
		{"to a port published on the uplink address", nil, m1, onSnat, hairpinTo(m2), onSnat.hairpinned(m2, 40000, 81),
			[]flow{hairpinFlow(m2, onSnat, 40000, 81)}},
		{"source port taken", func(n *node) { n.narrowPorts(); started(m2, fromM2)(n) }, r1, fromR1, hairpinTo(m1),
			fromR1.hairpinned(m1, portMin, 80), []flow{hairpinFlow(m1, fromM2, 40000, 80), hairpinFlow(m1, fromR1, portMin, 80)}},
		{"later packet", started(m2, fromM2), m2, ackM2, hairpinTo(m1), ackM2.hairpinned(m1, 40000, 80),
			[]flow{hairpinFlow(m1, fromM2, 40000, 80)}},
		{"the answer", started(r1, fromR1), m1, answer, hairpinTo(r1),
			answer.delivered(r1, 40000).from(snatIP, 8080), []flow{hairpinFlow(m1, fromR1, 40000, 80)}},
		{"the answer to itself", started(m1, fromM1), m1, answer, hairpinTo(m1),
			answer.delivered(m1, 40000).from(snatIP, 8080), []flow{hairpinFlow(m1, fromM1, 40000, 80)}},
		// Any address of the node stands for every address.
		{"to another network's gateway", nil, r1, synTo(r1, "10.10.0.1", 8080), hairpinTo(m1),
			synTo(r1, "10.10.0.1", 8080).hairpinned(m1, 40000, 80), []flow{hairpinFlow(m1, synTo(r1, "10.10.0.1", 8080), 40000, 80)}},
		{"to another address of the node", nil, m2, synTo(m2, "198.51.100.2", 8080), hairpinTo(m1),
			synTo(m2, "198.51.100.2", 8080).hairpinned(m1, 40000, 80), []flow{hairpinFlow(m1, synTo(m2, "198.51.100.2", 8080), 40000, 80)}},
		{"to another device's address", nil, m2, synTo(m2, "192.0.2.1", 8080), hairpinTo(m1),
			synTo(m2, "192.0.2.1", 8080).hairpinned(m1, 40000, 80), []flow{hairpinFlow(m1, synTo(m2, "192.0.2.1", 8080), 40000, 80)}},
		{"published on the uplink address, to another address of the node", nil, m1, synTo(m1, "198.51.100.2", 8081),
			passed, pkt{}, nil},
		{"published on another address, to the uplink's", nil, m1, synTo(m1, "198.51.100.1", 8443), passed, pkt{}, nil},
		{"published on 127.0.0.1, to 127.0.0.1", nil, m1, synTo(m1, "127.0.0.1", 9090), passed, pkt{}, nil},
		{"port not published", nil, m2, synTo(m2, "198.51.100.1", 9999), passed, pkt{}, nil},
		{"published for an endpoint that is gone", nil, m2, synTo(m2, "198.51.100.1", 7070), endpointGone, pkt{}, nil},
		// An internal network reaches the node's addresses, but no published port.
		{"from an internal network", nil, i1, synTo(i1, "198.51.100.1", 8080), passed, pkt{}, nil},
		{"from an internal network to its gateway", nil, i1, synTo(i1, "10.30.0.1", 8080), passed, pkt{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			n.publish()
			if tc.setup != nil {
				tc.setup(n)
			}
			n.checkRun(n.fromEp(tc.from, tc.in, tc.want), tc.in, tc.out, tc.flows)
		})
	}
}
