package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// TestFragmentsFirstLast: datagrams sent first fragment last, to a
// published UDP port and as the answer to an endpoint's masqueraded
// query, arrive whole, every one: the uplink sends them to the daemon's
// helper namespace, whose kernel reassembles them and sends them back in
// order; so with either attach mode, and when the uplink's packets are
// handled on another CPU than the sender's (RPS). The helper outlives a
// restart of the daemon, the same one, and `system reset` removes it: its
// veth, its namespace's mount, its link.
func TestFragmentsFirstLast(t *testing.T) {
	cases := []struct {
		name   string
		daemon []string
		rps    bool
	}{
		{"tcx", nil, false},
		{"tc", []string{"--attach", "tc"}, false},
		{"the uplink's packets on another CPU", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.rps && runtime.NumCPU() < 2 {
				t.Skip("one CPU: no other to steer the uplink's packets to")
			}
			w := newWorld(t, tc.daemon...)
			a := w.Name("a")
			w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
			w.MustCLI("endpoint", "create", a, "--network", "web")
			w.MustCLI("publish", a, "5300:5300/udp")
			bigServer(t, a, netip.MustParseAddrPort("0.0.0.0:5300"))
			published := netip.AddrPortFrom(world.NodeIP, 5300)
			if tc.rps {
				// ip netns exec mounts the node's own /sys.
				if out, err := exec.Command("ip", "netns", "exec", w.Node, "sh", "-c",
					"echo 2 > /sys/class/net/"+world.UplinkDev+"/queues/rx-0/rps_cpus").CombinedOutput(); err != nil {
					t.Fatalf("steer the uplink's packets to CPU 1: %v: %s", err, out)
				}
			}

			before := defragHelper(t, w)
			firstLast(t, w, a, published)
			w.StopDaemon()
			w.StartDaemon(tc.daemon...)
			if after := defragHelper(t, w); after != before {
				t.Errorf("after a restart the helper is %+v, want the one before, %+v", after, before)
			}
			firstLast(t, w, a, published)

			w.MustCLI("system", "reset")
			if got := linkNames(t, w, w.Node); got != "lo up0" {
				t.Errorf("node devices after reset: %s, want lo up0", got)
			}
			if m := world.MountsUnder(w.Dir); len(m) > 0 {
				t.Errorf("mounts left under the world's dir after reset: %v", m)
			}
		})
	}
}

// defragHelper is the helper as `ebpfnet status` shows it, once it has
// checked that it is on, with its programs.
func defragHelper(t *testing.T, w *world.World) api.Defrag {
	t.Helper()
	st := status(t, w)
	df := st.Defrag
	if !df.On || df.Device != "enetdfrg0" || df.LinkID == 0 || df.ProgID == 0 ||
		df.Netns != filepath.Join(w.Dir, "state", "defrag.netns") {
		t.Fatalf("status shows the defragmentation helper as %+v", df)
	}
	var progs []string
	for _, p := range st.Programs {
		if p.Interface == df.Device {
			progs = append(progs, p.Name+" "+p.Hook)
		}
	}
	if want := []string{"enet_from_dfrg ingress"}; !slices.Equal(progs, want) {
		t.Errorf("status shows the programs %v on %s, want %v", progs, df.Device, want)
	}
	want := fmt.Sprintf("defrag:     on: enetdfrg0 into the helper namespace %s, netfilter link %d (program %d)\n",
		df.Netns, df.LinkID, df.ProgID)
	if out := w.MustCLI("status"); !strings.Contains(out, want) {
		t.Errorf("ebpfnet status does not show the helper as %q:\n%s", want, out)
	}
	if out := w.MustExec(w.Node, "bpftool", "prog", "show", "id", fmt.Sprint(df.ProgID)); !strings.Contains(out, "enet_defrag") {
		t.Errorf("program %d is not enet_defrag:\n%s", df.ProgID, out)
	}
	return df
}

// firstLast sends datagrams to a published UDP port, and answers to an
// endpoint's query, each cut into three fragments sent the first one
// last, and checks that every one arrives, through the helper: three
// fragments each go there, none goes round the uplink's queue.
func firstLast(t *testing.T, w *world.World, ep string, published netip.AddrPort) {
	t.Helper()
	const tries = 10
	detoured := counted(t, w, world.UplinkDev, "fragment-detoured")
	requeued := counted(t, w, world.UplinkDev, "fragment-requeued")
	began := time.Now()
	if got, err := askReversed(w.Ext, published, tries); got != tries {
		t.Errorf("%d of %d datagrams sent first fragment last to the published port were answered (%v)", got, tries, err)
	}
	reversed := time.Since(began) / tries
	began = time.Now()
	if got, err := askFragments(w.Ext, published, tries, false); got != tries {
		t.Errorf("%d of %d datagrams sent in order to the published port were answered (%v)", got, tries, err)
	}
	t.Logf("a query in three fragments answered in %v first fragment last, %v in order", reversed, time.Since(began)/tries)
	for i := range 3 {
		if n, err := answerReversed(w, ep); n != 3000 {
			t.Errorf("answer %d to %s's query, sent first fragment last: %d bytes arrived, want 3000 (%v)", i, ep, n, err)
		}
	}
	if n := counted(t, w, world.UplinkDev, "fragment-detoured") - detoured; n != 3*(tries+3) {
		t.Errorf("%d fragments went to the helper, want %d", n, 3*(tries+3))
	}
	if n := counted(t, w, world.UplinkDev, "fragment-requeued") - requeued; n != 0 {
		t.Errorf("%d fragments went round the uplink's queue, want none", n)
	}
	if n := counted(t, w, "enetdfrg0", "fragment-reassembled"); n < 3*(tries+3) {
		t.Errorf("%d fragments came back from the helper, want %d at least", n, 3*(tries+3))
	}
}

// answerReversed has ep ask a UDP socket in ext, which answers with 3,000
// bytes cut into fragments sent from a raw socket, the first one last, to
// where the query came from (the node's address: ep is masqueraded). It
// returns how many bytes of the answer ep got. The socket in ext takes a
// port of the kernel's choosing: a fixed one might still be held a moment
// after its close, by a process another test forks meanwhile.
func answerReversed(w *world.World, ep string) (int, error) {
	var ext, c *net.UDPConn
	err := errors.Join(
		world.InNetns(w.Ext, func() (err error) {
			ext, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(world.ExtIP, 0)))
			return err
		}),
		world.InNetns(ep, func() (err error) { c, err = net.ListenUDP("udp4", nil); return err }))
	for _, s := range []*net.UDPConn{ext, c} {
		if s != nil {
			defer s.Close()
		}
	}
	if err != nil {
		return 0, err
	}
	srv := netip.AddrPortFrom(world.ExtIP, ext.LocalAddr().(*net.UDPAddr).AddrPort().Port())
	if _, err := c.WriteToUDPAddrPort([]byte("q"), srv); err != nil {
		return 0, err
	}
	buf := make([]byte, 65536)
	_ = ext.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, from, err := ext.ReadFromUDPAddrPort(buf)
	if err != nil {
		return 0, err
	}
	frags, err := ipFragments(srv, from, uint16(rand.Uint32()), make([]byte, 3000), 1480)
	if err != nil {
		return 0, err
	}
	slices.Reverse(frags)
	if err := world.InNetns(w.Ext, func() error { return sendRawIP(from.Addr(), frags) }); err != nil {
		return 0, err
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := c.ReadFrom(buf)
	return n, err
}
