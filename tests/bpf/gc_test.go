package bpftest

import (
	"slices"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/maps"
)

// race is the datapath's move at one step of the GC: run before the GC's
// first step (get or take, in ct or nat) on key, as a packet handled on
// another CPU at that moment would.
type race struct {
	step string // "ct get", "ct take", "nat get", "nat take"
	key  maps.Tuple
	move func(n *node)
	n    *node
	done bool
}

func (r *race) at(step string, k maps.Tuple) {
	if r != nil && !r.done && step == r.step && k == r.key {
		r.done = true
		r.move(r.n)
	}
}

// racing is a flow table whose Get and Take let r move first.
type racing[V any] struct {
	maps.Table[V]
	name string
	r    *race
}

func (t racing[V]) Get(k maps.Tuple) (V, bool, error) {
	t.r.at(t.name+" get", k)
	return t.Table.Get(k)
}

func (t racing[V]) Take(k maps.Tuple) (V, bool, error) {
	t.r.at(t.name+" take", k)
	return t.Table.Take(k)
}

// collect runs one pass of the daemon's GC at now, with r's move played at
// its step; the test fails if the GC never came to that step.
func (n *node) collect(r *race, now uint64) maps.Collected {
	n.t.Helper()
	if r != nil {
		r.n = n
	}
	done, err := maps.Collect(racing[maps.Flow]{n.Maps.CT, "ct", r}, racing[maps.Translation]{n.Maps.NAT, "nat", r}, now)
	must(n.t, err)
	if r != nil && !r.done {
		n.t.Fatalf("the GC never came to %s %v", r.step, r.key)
	}
	return done
}

// collectAt is the GC's clock: ahead of the datapath's by later, so what
// the datapath wrote is older than the grace.
func collectAt(t testing.TB, later time.Duration) uint64 { return monoNow(t) + uint64(later) }

// life is what must be left of flow1 after the GC, as to its conntrack
// entry.
type life int

const (
	gone  life = iota // no flow1
	same              // the entry flow1 had
	fresh             // a new one, started by a packet since
)

// checkLife fails unless flow1's conntrack entry is as want says, first
// being the one it had before the GC.
func (n *node) checkLife(orig maps.Tuple, first maps.Flow, want life) {
	n.t.Helper()
	f, ok, err := n.Maps.CT.Get(orig)
	must(n.t, err)
	switch {
	case want == gone && ok:
		n.t.Errorf("flow %v left, created at %d", orig, f.CreatedNs)
	case want == same && (!ok || f.CreatedNs != first.CreatedNs):
		n.t.Errorf("flow %v: found %t, created at %d; want the one created at %d", orig, ok, f.CreatedNs, first.CreatedNs)
	case want == fresh && (!ok || f.CreatedNs == first.CreatedNs || f.PacketsOrig != 1):
		n.t.Errorf("flow %v: found %t, created at %d with %d packets; want a new one (not created at %d) with 1",
			orig, ok, f.CreatedNs, f.PacketsOrig, first.CreatedNs)
	}
}

// The flows of the GC tests: m1's and m2's from the same port to the same
// place, so they want the same reply tuple.
var (
	gcUDP1, gcUDP2   = out(m1, remote).udp(40000, 53), out(m2, remote).udp(40000, 53)
	gcFlow1, gcFlow2 = masqFlow(m1, gcUDP1, 40000), masqFlow(m2, gcUDP2, 40000)
	gcReply1         = gcFlow1.to.Reverse()
)

// expire1 makes flow1 long dead; expireLater dead only to a clock 20s
// ahead, as the GC's is in the test that uses it: a packet gives it 30
// (toUDP).
func expire1(n *node)     { n.expire(gcFlow1.orig) }
func start1(n *node)      { n.fromEp(m1, gcUDP1, snatOut) }
func start2(n *node)      { n.fromEp(m2, gcUDP2, snatOut) }
func orphan1(n *node)     { n.forgetCT(gcFlow1.orig) }
func expireLater(n *node) { n.setExpiry(gcFlow1.orig, monoNow(n.t)+uint64(10*time.Second)) }

// TestGCRaces: the datapath takes a dead flow's tuples for a new flow, or
// refreshes a flow, between the GC's reading an entry and its removing
// it. The GC removes only what it meant to: the new flow stays whole, with
// the entries the datapath wrote for it, and a refreshed flow stays as it
// was.
func TestGCRaces(t *testing.T) {
	w := newNodeWorld(t)
	cases := []struct {
		name    string
		kill    func(n *node) // after flow1's first packet
		later   time.Duration // how far the GC's clock is ahead
		race    race
		left    []flow
		life    life
		removed maps.Collected
	}{
		{"expired flow started again before the GC reads it again", expire1, 2 * maps.GCGrace,
			race{step: "ct get", key: gcFlow1.orig, move: start1}, []flow{gcFlow1}, fresh, maps.Collected{}},
		{"expired flow started again between the read and the take", expire1, 2 * maps.GCGrace,
			race{step: "ct take", key: gcFlow1.orig, move: start1}, []flow{gcFlow1}, fresh, maps.Collected{}},
		{"expired flow started again as its translations are taken", expire1, 2 * maps.GCGrace,
			race{step: "nat take", key: gcReply1, move: start1}, []flow{gcFlow1}, fresh, maps.Collected{Flows: 1}},
		{"expired flow's reply tuple taken by another flow", expire1, 2 * maps.GCGrace,
			race{step: "nat take", key: gcReply1, move: start2}, []flow{gcFlow2}, gone, maps.Collected{Flows: 1}},
		{"flow refreshed between the read and the take", expireLater, 20 * time.Second,
			race{step: "ct take", key: gcFlow1.orig, move: func(n *node) {
				back := gcUDP1.masqueraded(40000).reply()
				n.fromUp(back, replyTo(m1))
			}}, []flow{gcFlow1}, same, maps.Collected{}},
		{"orphan's reply tuple taken by another flow", func(n *node) {
			orphan1(n)
			must(n.t, n.Maps.NAT.Delete(gcFlow1.orig))
		}, 2 * maps.GCGrace,
			race{step: "nat take", key: gcReply1, move: start2}, []flow{gcFlow2}, gone, maps.Collected{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			start1(n)
			first := n.flow(gcFlow1.orig)
			tc.kill(n)
			r := tc.race
			if got := n.collect(&r, collectAt(t, tc.later)); got != tc.removed {
				t.Errorf("the GC removed %+v, want %+v", got, tc.removed)
			}
			n.checkFlows(tc.left...)
			n.checkLife(gcFlow1.orig, first, tc.life)
		})
	}
}

// TestGCRemoves: the GC removes a flow that expired longer ago than its
// grace with both its translations, and translations older than the grace
// whose flow is gone; it leaves live flows, flows just expired, a reply
// entry just written (a flow in the making), and another flow's entry on
// a dead flow's reply tuple.
func TestGCRemoves(t *testing.T) {
	w := newNodeWorld(t)
	grace := uint64(maps.GCGrace)
	cases := []struct {
		name    string
		kill    func(n *node) // after flow1's first packet
		now     func(n *node) uint64
		left    []flow
		removed maps.Collected
	}{
		{"live", func(*node) {}, func(n *node) uint64 { return collectAt(n.t, 2*maps.GCGrace) },
			[]flow{gcFlow1}, maps.Collected{}},
		{"expired", expire1, func(n *node) uint64 { return collectAt(n.t, 0) },
			nil, maps.Collected{Flows: 1}},
		{"expired within the grace", func(*node) {}, func(n *node) uint64 { return n.flow(gcFlow1.orig).ExpiresNs + grace/2 },
			[]flow{gcFlow1}, maps.Collected{}},
		{"conntrack entry gone", orphan1, func(n *node) uint64 { return collectAt(n.t, 2*maps.GCGrace) },
			nil, maps.Collected{Orphans: 2}},
		{"reply entry just written, no forward or conntrack entry yet", func(n *node) {
			orphan1(n)
			must(n.t, n.Maps.NAT.Delete(gcFlow1.orig))
		}, func(n *node) uint64 { return n.translation(gcReply1).CreatedNs + grace/2 },
			nil, maps.Collected{}},
		{"reply entry evicted, its tuple taken by another flow", func(n *node) {
			must(n.t, n.Maps.NAT.Delete(gcReply1))
			start2(n)
			expire1(n)
		}, func(n *node) uint64 { return collectAt(n.t, 0) },
			[]flow{gcFlow2}, maps.Collected{Flows: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			start1(n)
			tc.kill(n)
			before := n.tables()
			if got := n.collect(nil, tc.now(n)); got != tc.removed {
				t.Errorf("the GC removed %+v, want %+v", got, tc.removed)
			}
			if tc.removed == (maps.Collected{}) {
				if after := n.tables(); !slices.Equal(after, before) {
					t.Errorf("maps changed: %v, were %v", after, before)
				}
				return
			}
			n.checkFlows(tc.left...)
		})
	}
}

// TestRemoveFlow: removing a flow, as the daemon does when its endpoint or
// published port goes, leaves another flow's entry on its reply tuple.
func TestRemoveFlow(t *testing.T) {
	w := newNodeWorld(t)
	n := w.node(t)
	start1(n)
	must(t, n.Maps.NAT.Delete(gcReply1))
	start2(n)
	must(t, maps.RemoveFlow(n.Maps.CT, n.Maps.NAT, n.flow(gcFlow1.orig)))
	n.checkFlows(gcFlow2)
}

// TestGCAssured: the GC removes an assured flow (in enet_ct and enet_nat)
// that expired as it does the others, and leaves a live one.
func TestGCAssured(t *testing.T) {
	w := newNodeWorld(t)
	for _, expired := range []bool{false, true} {
		n := w.node(t)
		c := newConn()
		for _, s := range []tcpStep{o(tcpSYN), r(synAck), o(tcpACK)} {
			masqPath.send(n, c.packet(s, masqPath.fwd, masqPath.back), s.reply)
		}
		want, removed := []flow{masqPath.flow.assure()}, maps.Collected{}
		if expired {
			n.expire(masqPath.fwd.tuple())
			want, removed = nil, maps.Collected{Flows: 1}
		}
		if got := n.collect(nil, collectAt(t, 2*maps.GCGrace)); got != removed {
			t.Errorf("expired %t: the GC removed %+v, want %+v", expired, got, removed)
		}
		n.checkFlows(want...)
	}
}
