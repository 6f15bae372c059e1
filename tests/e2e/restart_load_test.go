package e2e

import (
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/cilium/ebpf"
	ebpflink "github.com/cilium/ebpf/link"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Loss bounds per path and phase. A swap with link.Update (or a tc filter
// replace) is atomic and the maps stay pinned, so the datapath itself
// loses nothing; the bounds leave room for a packet or two the veths of a
// loaded machine drop on their own. A hook left empty or a flow forgotten
// for 10 ms loses five datagrams; a reset flow breaks the stream.
const (
	maxUDPLost    = 2
	maxTCPLost    = 2 // segments the clients resent, stream and CRR together
	maxCRRFailed  = 0
	phaseDuration = 2 * time.Second
)

var restartPhases = []string{"before", "restart", "upgrade", "after"}

// TestRestartUnderLoad holds point 1 of issue 6: with a TCP stream, a CRR
// load and a UDP flow on each of forwarding, masquerade and a published
// port, `daemon stop` and `daemon start`, then an upgrade to a binary whose
// programs carry another build id, break no connection and lose at most a
// few packets; the programs are swapped on the very same pinned links.
func TestRestartUnderLoad(t *testing.T) {
	t.Parallel()
	upgraded, err := world.Rebuild(t.TempDir(), "e2e-upgrade")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		daemon []string
		mode   string
	}{
		{"tcx", []string{"--attach", "tcx", "--xdp", "native"}, "tcx"}, // and enet_xdp_up swapped under load too
		{"tc", []string{"--attach", "tc"}, "tc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restartUnderLoad(t, upgraded, tc.daemon, tc.mode)
		})
	}
}

func restartUnderLoad(t *testing.T, upgraded string, daemon []string, mode string) {
	w := world.New(t, bin)
	start := func() { startNiced(t, w, daemon...) }
	start()
	loads := startLoads(t, w)
	oldBuild := status(t, w).BuildID
	var seen []map[string]hooked
	for i, phase := range restartPhases {
		for _, l := range loads {
			l.enter(i)
		}
		switch phase {
		case "before":
			seen = append(seen, hooks(t, w))
		case "restart":
			w.StopDaemon()
			time.Sleep(time.Second) // the datapath alone
			start()
			seen = append(seen, hooks(t, w))
		case "upgrade":
			w.StopDaemon()
			w.Bin = upgraded
			start()
			seen = append(seen, hooks(t, w))
		}
		time.Sleep(phaseDuration)
	}
	for _, l := range loads {
		l.finish()
	}
	time.Sleep(udpDrain)
	for _, l := range loads {
		l.wait()
	}
	t.Logf("attach %s, what was lost per path and phase:\n%s", mode, lossTable(loads))
	t.Logf("attach %s, what ran on the hooks before, after the restart and after the upgrade:\n%s", mode, hooksTable(seen))

	newBuild := status(t, w).BuildID
	if newBuild == oldBuild {
		t.Fatalf("the upgraded daemon has build id %d, the same as before", newBuild)
	}
	sameLinksNewPrograms(t, mode, seen, []uint32{oldBuild, oldBuild, newBuild})
	for _, l := range loads {
		checkLoad(t, l)
	}
}

// startNiced starts the daemon at the lowest CPU priority. Loading and
// verifying the programs takes both cores of a small machine for a second;
// at the same priority it starves the load, which then sends nothing while
// the programs are swapped and could miss a gap there.
func startNiced(t *testing.T, w *world.World, daemon ...string) {
	t.Helper()
	argv := append([]string{"nice", "-n", "19", w.Bin, "--socket", w.Socket}, w.StartArgs()...)
	w.MustExec(w.Node, append(argv, daemon...)...)
}

// startLoads sets up the three paths, each from a client to an echo server
// on port 9000, and starts the load on them: endpoint a to endpoint b,
// a to ext (masqueraded), and ext to b through the node's port 8080.
func startLoads(t *testing.T, w *world.World) []*pathLoad {
	t.Helper()
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	a, b := w.Name("a"), w.Name("b")
	newEndpoint(t, w, a, "web")
	bIP := newEndpoint(t, w, b, "web")
	w.MustCLI("publish", b, "8080:9000", "8080:9000/udp")
	startEcho(t, b, netip.AddrPortFrom(bIP, 9000))
	startEcho(t, w.Ext, netip.AddrPortFrom(world.ExtIP, 9000))
	return []*pathLoad{
		startLoad(t, "forwarding", a, netip.AddrPortFrom(bIP, 9000), restartPhases),
		startLoad(t, "masquerade", a, netip.AddrPortFrom(world.ExtIP, 9000), restartPhases),
		startLoad(t, "published", w.Ext, netip.AddrPortFrom(world.NodeIP, 8080), restartPhases),
	}
}

// checkLoad fails on a broken or stalled stream, a stream whose echo came
// short, and on losses above the bounds.
func checkLoad(t *testing.T, l *pathLoad) {
	t.Helper()
	if l.streamErr != nil {
		t.Errorf("%s: the TCP stream broke %v", l.name, l.streamErr)
	} else if l.echoed != l.sent {
		t.Errorf("%s: the TCP stream sent %d bytes and had %d echoed", l.name, l.sent, l.echoed)
	}
	for i, p := range l.tallies {
		where := l.name + ", " + l.phases[i]
		if p.StreamEchoed == 0 {
			t.Errorf("%s: the TCP stream made no progress", where)
		}
		if p.CRR == 0 || p.UDPSent == 0 {
			t.Errorf("%s: no CRR connection or no datagram was tried", where)
		}
		if p.CRRFailed > maxCRRFailed {
			t.Errorf("%s: %d of %d CRR connections failed: %v", where, p.CRRFailed, p.CRR, p.Errors)
		}
		if p.TCPLost() > maxTCPLost {
			t.Errorf("%s: TCP resent %d segments, %d of them spurious", where, p.TCPResent, p.TCPSpurious)
		}
		if p.UDPLost() > maxUDPLost || p.UDPDup > 0 {
			t.Errorf("%s: %d of %d datagrams lost, %d duplicated: %v", where, p.UDPLost(), p.UDPSent, p.UDPDup, p.Errors)
		}
	}
}

func lossTable(loads []*pathLoad) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "path\tphase\tstream KiB sent/echoed\tmax gap\tCRR ok/tried\tTCP resent/spurious\tUDP echoed/sent\tlost\treordered\terrors")
	for _, l := range loads {
		for i, p := range l.tallies {
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%v\t%d/%d\t%d/%d\t%d/%d\t%d\t%d\t%s\n", l.name, l.phases[i],
				p.StreamSent>>10, p.StreamEchoed>>10, p.StreamMaxGap.Round(time.Millisecond),
				p.CRR-p.CRRFailed, p.CRR, p.TCPResent, p.TCPSpurious, p.UDPEchoed, p.UDPSent, p.UDPLost(), p.UDPReordered,
				strings.Join(p.Errors, "; "))
		}
	}
	tw.Flush()
	return b.String()
}

func hooksTable(seen []map[string]hooked) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "hook\tmode\tlink\tprogram id/tag/build id, at each start")
	for _, key := range slices.Sorted(maps.Keys(seen[0])) {
		h := seen[0][key]
		fmt.Fprintf(tw, "%s\t%s\t%d", key, h.Mode, h.Link)
		for _, hs := range seen {
			build := "-"
			if hs[key].Built {
				build = fmt.Sprint(hs[key].Build)
			}
			fmt.Fprintf(tw, "\t%d/%s/%s", hs[key].Prog, hs[key].Tag, build)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	return b.String()
}

// hooked is what runs on a hook (an interface's ingress or egress, or a
// cgroup hook): the program, what it carries, and the pinned link holding
// it, none for a tc filter.
type hooked struct {
	Mode  string
	Link  ebpflink.ID
	Prog  ebpf.ProgramID
	Tag   string
	Build uint32 // the build_id in the program's .rodata
	Built bool   // false: the program reads no build_id
}

// hooks is what runs on every hook of the daemon's, by hook: the programs
// status shows on the interfaces, and the links pinned under the bpffs.
func hooks(t *testing.T, w *world.World) map[string]hooked {
	t.Helper()
	out := map[string]hooked{}
	for _, p := range status(t, w).Programs {
		key := p.Interface + " " + p.Hook
		if old, dup := out[key]; dup {
			t.Fatalf("%s runs two programs: %d and %d", key, old.Prog, p.ID)
		}
		out[key] = hooked{Mode: p.Mode, Prog: ebpf.ProgramID(p.ID)}
	}
	dir := filepath.Join(w.BPFFS, loader.LinkDir)
	pins, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, pin := range pins {
		l, err := ebpflink.LoadPinnedLink(filepath.Join(dir, pin.Name()), nil)
		if err != nil {
			t.Fatalf("open pinned link %s: %v", pin.Name(), err)
		}
		info, err := l.Info()
		l.Close()
		if err != nil {
			t.Fatalf("read pinned link %s: %v", pin.Name(), err)
		}
		key, h := pin.Name(), hooked{Mode: "cgroup", Prog: info.Program}
		if key == "defrag" {
			h.Mode = "netfilter"
		}
		if i := strings.LastIndex(key, "_"); !isSockHook(key) && key != "defrag" && i > 0 {
			key = key[:i] + " " + key[i+1:]
			if h = out[key]; h.Prog != info.Program {
				t.Fatalf("the link pinned as %s holds program %d, %s runs %d", pin.Name(), info.Program, key, h.Prog)
			}
		}
		h.Link = info.ID
		out[key] = h
	}
	for key, h := range out {
		h.Tag, h.Build, h.Built = program(t, h.Prog)
		out[key] = h
	}
	return out
}

func isSockHook(pin string) bool {
	return slices.ContainsFunc(loader.SockHooks, func(h loader.SockHook) bool { return h.Name == pin })
}

// sameLinksNewPrograms checks what ran on the hooks after each start of
// the daemon (seen and builds follow restartPhases): the same hooks in the
// same mode, held by the same links, each with a new program carrying the
// build id of the binary that loaded it; but the defragmentation helper's
// netfilter link keeps its program, which only accepts and which the
// kernel cannot swap.
func sameLinksNewPrograms(t *testing.T, mode string, seen []map[string]hooked, builds []uint32) {
	t.Helper()
	first := seen[0]
	for key, h := range first {
		if strings.HasSuffix(key, " xdp") {
			// enet_xdp_up, on its own hook: native on the world's veth,
			// with a link whatever --attach says.
			if h.Mode != "native" || h.Link == 0 {
				t.Errorf("%s: a %s attachment with link %d, want native with a link", key, h.Mode, h.Link)
			}
			continue
		}
		if h.Mode != mode && h.Mode != "cgroup" && h.Mode != "netfilter" || (h.Link != 0) != (h.Mode != "tc") {
			t.Errorf("%s: a %s attachment with link %d, want %s", key, h.Mode, h.Link, mode)
		}
	}
	for i, hs := range seen {
		start := restartPhases[i]
		if len(hs) != len(first) {
			t.Errorf("%s: hooks %v, want %v", start, hs, first)
		}
		for key, h := range hs {
			want, ok := first[key]
			switch {
			case !ok || h.Link != want.Link || h.Mode != want.Mode:
				t.Errorf("%s: %s is %+v, was %+v: not the same link", start, key, h, want)
			case h.Mode == "netfilter":
				if h.Prog != want.Prog {
					t.Errorf("%s: %s runs program %d, was %d", start, key, h.Prog, want.Prog)
				}
			case i > 0 && h.Prog == seen[i-1][key].Prog:
				t.Errorf("%s: %s still runs program %d", start, key, h.Prog)
			case h.Mode != "cgroup" && !h.Built && !strings.HasSuffix(key, " xdp"): // enet_xdp_up writes no events
				t.Errorf("%s: the program on %s reads no build_id", start, key)
			case h.Built && h.Build != builds[i]:
				t.Errorf("%s: the program on %s carries build id %d, want %d", start, key, h.Build, builds[i])
			}
		}
	}
}

// buildIDVar is where build_id lies in the object: section and offset.
var buildIDVar = sync.OnceValues(func() (*ebpf.VariableSpec, error) {
	spec, err := loader.LoadEnet()
	if err != nil {
		return nil, err
	}
	return spec.Variables[loader.EnetVarBuildId], nil
})

// program is a loaded program's tag and the build_id in its .rodata map;
// false if it has none, reading no build_id.
func program(t *testing.T, id ebpf.ProgramID) (string, uint32, bool) {
	t.Helper()
	v, err := buildIDVar()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		t.Fatalf("open program %d: %v", id, err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		t.Fatalf("read program %d: %v", id, err)
	}
	ids, _ := info.MapIDs()
	for _, mid := range ids {
		m, err := ebpf.NewMapFromID(mid)
		if err != nil {
			t.Fatalf("open map %d of program %d: %v", mid, id, err)
		}
		mi, err := m.Info()
		if err != nil || mi.Name != v.SectionName {
			m.Close()
			continue
		}
		val := make([]byte, mi.ValueSize)
		err = m.Lookup(uint32(0), val)
		m.Close()
		if err != nil {
			t.Fatalf("read %s of program %d: %v", v.SectionName, id, err)
		}
		return info.Tag, binary.NativeEndian.Uint32(val[v.Offset:]), true
	}
	return info.Tag, 0, false
}
