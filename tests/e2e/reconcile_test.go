package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	ebpflink "github.com/cilium/ebpf/link"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// reconcileWorld is srvWorld with a second endpoint, cli (10.10.0.3), and
// srv's TCP 80 published on 8080: the start-up must bring back the
// forwarding between them and the publication.
func reconcileWorld(t *testing.T) (w *world.World, srv, cli string) {
	t.Helper()
	w, srv, _ = srvWorld(t, "cli")
	w.MustCLI("publish", srv, "8080:80")
	mustBeConsistent(t, w)
	return w, srv, w.Name("cli")
}

// mustWork: forwarding between the endpoints and the publication work.
func mustWork(t *testing.T, w *world.World, cli string) {
	t.Helper()
	mustPing(t, w, cli, "10.10.0.2")
	mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8080", "srv 198.51.100.2:", "198.51.100.1:8080")
}

// restart is daemon stop and start: what the start-up reconciles is
// what changed while the daemon was away.
func restart(t *testing.T, w *world.World) {
	t.Helper()
	w.StopDaemon()
	w.StartDaemon()
}

// mustReport fails unless the checker lists every one of want.
func mustReport(t *testing.T, w *world.World, want ...string) {
	t.Helper()
	got := strings.Join(inconsistencies(t, w), "\n")
	for _, s := range want {
		if !strings.Contains(got, s) {
			t.Errorf("the checker does not report %q; it reports:\n%s", s, got)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestReconcileRemovesStrays (issue 6, point 3): what carries ebpfnet's
// names but the store does not know, as a crash or a hand leaves it, goes
// at start, and what the store knows stays and works.
func TestReconcileRemovesStrays(t *testing.T) {
	t.Parallel()
	w, _, cli := reconcileWorld(t)
	// A pinned tcx link to take a program from: the uplink's (endpoint
	// veths have tc filters).
	srvPin := filepath.Join(w.BPFFS, loader.LinkDir, world.UplinkDev+"_ingress")
	// An endpoint half made: a veth with ebpfnet's alias, its program
	// pinned, its map entries.
	w.MustExec(w.Node, "ip", "link", "add", "enetv0badc0de", "type", "veth", "peer", "name", "ghostpeer")
	w.MustExec(w.Node, "ip", "link", "set", "enetv0badc0de", "alias", "ebpfnet:endpoint:ghost:eth0", "up")
	idx := links(t, w, w.Node)["enetv0badc0de"].Index
	attachPinned(t, w, srvPin, idx, filepath.Join(w.BPFFS, loader.LinkDir, "enetv0badc0de_ingress"))
	ghost := netip.MustParseAddr("10.10.0.99")
	mac, _ := net.ParseMAC("02:42:0a:0a:00:63")
	withMap(t, w, loader.EnetMapEnetEndpoints, func(m *ebpf.Map) error {
		return maps.Endpoints{Map: m}.Put(maps.Endpoint{IP: ghost, Ifindex: idx, NetID: 2, MAC: mac})
	})
	withMap(t, w, loader.EnetMapEnetIfaces, func(m *ebpf.Map) error {
		return maps.Ifaces{Map: m}.Put(maps.Iface{Ifindex: idx, IP: ghost, NetID: 2, MAC: mac})
	})
	// A network half made: its bridge and map entries.
	w.MustExec(w.Node, "ip", "link", "add", "enet-ghost", "type", "bridge")
	w.MustExec(w.Node, "ip", "link", "set", "enet-ghost", "alias", "ebpfnet:network:ghost")
	withMap(t, w, loader.EnetMapEnetNetworks, func(m *ebpf.Map) error {
		subnets, err := ebpf.LoadPinnedMap(filepath.Join(w.BPFFS, loader.EnetMapEnetSubnets), nil)
		if err != nil {
			return err
		}
		defer subnets.Close()
		return maps.Networks{Networks: m, Subnets: subnets}.Put(maps.Network{ID: 77,
			Subnet: netip.MustParsePrefix("10.77.0.0/24"), Gateway: netip.MustParseAddr("10.77.0.1"), GatewayMAC: mac})
	})
	// A publication the store lost, and link pins of no device.
	withMap(t, w, loader.EnetMapEnetPorts, func(m *ebpf.Map) error {
		return maps.Ports{Map: m}.PutAll([]maps.Port{{Proto: 6, HostPort: 9999, Target: netip.MustParseAddrPort("10.10.0.99:80")}})
	})
	pinAgain(t, srvPin, filepath.Join(w.BPFFS, loader.LinkDir, "enetv5ca1ab1e_ingress"))
	pinAgain(t, srvPin, filepath.Join(w.BPFFS, loader.LinkDir, "leftover"))
	mustReport(t, w,
		`device enetv0badc0de (alias "ebpfnet:endpoint:ghost:eth0") is in the node but not in the store`,
		"links/enetv0badc0de_ingress is pinned but the store knows no such device",
		"enet_endpoints holds 10.10.0.99",
		fmt.Sprintf("enet_ifaces holds ifindex %d", idx),
		`device enet-ghost (alias "ebpfnet:network:ghost") is in the node but not in the store`,
		"enet_networks holds id 77",
		"enet_subnets holds 10.77.0.0/24 -> 77",
		"enet_ports holds tcp 0.0.0.0:9999 -> 10.10.0.99:80",
		"links/enetv5ca1ab1e_ingress is pinned",
		"links/leftover is pinned")

	restart(t, w)
	mustBeConsistent(t, w)
	if _, ok := links(t, w, w.Node)["ghostpeer"]; ok {
		t.Fatalf("the stray veth's peer is still in the node")
	}
	mustWork(t, w, cli)
}

// TestReconcileRestores (issue 6, point 3): what the store knows and the
// kernel lost while the daemon was away comes back at start; the checker
// sees each loss before.
func TestReconcileRestores(t *testing.T) {
	cases := []struct {
		name string
		lose func(t *testing.T, w *world.World, host string) string // what the checker must report
	}{
		// The running daemon makes a deleted veth again at once (its
		// namespace lives): nothing is left for the checker to see.
		{name: "deleted veth", lose: func(t *testing.T, w *world.World, host string) string {
			w.MustExec(w.Node, "ip", "link", "del", host)
			return ""
		}},
		{name: "deleted bridge", lose: func(t *testing.T, w *world.World, host string) string {
			w.MustExec(w.Node, "ip", "link", "del", links(t, w, w.Node)[host].Master)
			return "bridge enet-"
		}},
		{name: "alias lost as a crash cuts a creation short", lose: func(t *testing.T, w *world.World, host string) string {
			w.MustExec(w.Node, "ip", "link", "set", host, "alias", "")
			return "device " + host + ` is a veth, alias ""`
		}},
		{name: "bridge alias lost as a crash cuts a creation short", lose: func(t *testing.T, w *world.World, host string) string {
			br := links(t, w, w.Node)[host].Master
			w.MustExec(w.Node, "ip", "link", "set", br, "alias", "")
			return "device " + br + ` is a bridge, alias ""`
		}},
		{name: "flushed enet_endpoints", lose: flush(loader.EnetMapEnetEndpoints, "is not in enet_endpoints")},
		{name: "flushed enet_ifaces", lose: flush(loader.EnetMapEnetIfaces, "is not in enet_ifaces")},
		{name: "flushed enet_networks", lose: flush(loader.EnetMapEnetNetworks, "is not in enet_networks")},
		{name: "flushed enet_subnets", lose: flush(loader.EnetMapEnetSubnets, "enet_subnets[10.10.0.0/24] is 0 (present false)")},
		{name: "flushed enet_ports", lose: flush(loader.EnetMapEnetPorts, "publication tcp 0.0.0.0:8080 -> 10.10.0.2:80")},
		{name: "deleted tc filter", lose: func(t *testing.T, w *world.World, host string) string {
			w.MustExec(w.Node, "tc", "filter", "del", "dev", host, "ingress")
			return "has tc filters [] on ingress, want only enet_from_ep"
		}},
		{name: "detached tcx link, pin left", lose: func(t *testing.T, w *world.World, _ string) string {
			w.MustExec(w.Node, "bpftool", "link", "detach", "pinned", filepath.Join(w.BPFFS, loader.LinkDir, world.UplinkDev+"_ingress"))
			return "runs programs [] on TCXIngress"
		}},
		{name: "unpinned uplink link", lose: func(t *testing.T, w *world.World, _ string) string {
			unpin(t, w, world.UplinkDev+"_ingress")
			return "no link pinned at links/" + world.UplinkDev + "_ingress"
		}},
		{name: "unpinned socket link", lose: func(t *testing.T, w *world.World, _ string) string {
			unpin(t, w, "cgroup_connect4")
			return "the world's cgroup does not run enet_sock_conn4"
		}},
		{name: "address removed inside", lose: func(t *testing.T, w *world.World, _ string) string {
			w.MustExec(w.Name("srv"), "ip", "addr", "flush", "dev", "eth0")
			return "eth0 in " + w.Name("srv") + " holds [], want 10.10.0.2/24"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, srv, cli := reconcileWorld(t)
			if report := tc.lose(t, w, hostOf(t, w, srv)); report != "" {
				mustReport(t, w, report)
			} else if !world.Wait(5*time.Second, func() bool { return len(inconsistencies(t, w)) == 0 }) {
				mustBeConsistent(t, w)
			}
			restart(t, w)
			mustBeConsistent(t, w)
			mustWork(t, w, cli)
		})
	}
}

// TestReconcileVethLostWhileAway: a veth deleted while the daemon was
// away comes back at start.
func TestReconcileVethLostWhileAway(t *testing.T) {
	t.Parallel()
	w, srv, cli := reconcileWorld(t)
	host := hostOf(t, w, srv)
	w.StopDaemon()
	w.MustExec(w.Node, "ip", "link", "del", host)
	w.StartDaemon()
	mustBeConsistent(t, w)
	if _, ok := links(t, w, w.Node)[host]; !ok {
		t.Fatalf("veth %s not made again", host)
	}
	mustWork(t, w, cli)
}

func hostOf(t *testing.T, w *world.World, endpoint string) string {
	t.Helper()
	return inspectEndpoint(t, w, endpoint).Interfaces[0].HostName
}

// flush empties a pinned map, as a tool or a mistake could.
func flush(name, report string) func(*testing.T, *world.World, string) string {
	return func(t *testing.T, w *world.World, _ string) string {
		withMap(t, w, name, func(m *ebpf.Map) error {
			var keys [][]byte
			key := make([]byte, m.KeySize())
			var cur any
			for m.NextKey(cur, &key) == nil {
				keys = append(keys, append([]byte(nil), key...))
				cur = keys[len(keys)-1]
			}
			for _, k := range keys {
				if err := m.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		return report
	}
}

func withMap(t *testing.T, w *world.World, name string, fn func(*ebpf.Map) error) {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(w.BPFFS, name), nil)
	if err != nil {
		t.Fatalf("open pinned %s: %v", name, err)
	}
	defer m.Close()
	if err := fn(m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// unpin removes a link pin; the link, held by nothing else, goes and takes
// its program off.
func unpin(t *testing.T, w *world.World, name string) {
	t.Helper()
	l, err := ebpflink.LoadPinnedLink(filepath.Join(w.BPFFS, loader.LinkDir, name), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Unpin(); err != nil {
		t.Fatal(err)
	}
}

// pinnedLink is what the kernel says of a pinned link.
func pinnedLink(t *testing.T, pin string) *ebpflink.Info {
	t.Helper()
	l, err := ebpflink.LoadPinnedLink(pin, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// pinAgain pins the link pinned at from at to as well. (Pin on the link
// as loaded from its pin would move that pin.)
func pinAgain(t *testing.T, from, to string) {
	t.Helper()
	l, err := ebpflink.NewFromID(pinnedLink(t, from).ID)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Pin(to); err != nil {
		t.Fatal(err)
	}
}

// attachPinned attaches the program of the link pinned at from to the
// ingress of a node device as a new tcx link, pinned at to.
func attachPinned(t *testing.T, w *world.World, from string, ifindex int, to string) {
	t.Helper()
	prog, err := ebpf.NewProgramFromID(pinnedLink(t, from).Program)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	err = world.InNetns(w.Node, func() error {
		l, err := ebpflink.AttachTCX(ebpflink.TCXOptions{Interface: ifindex, Program: prog, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			return err
		}
		defer l.Close()
		return l.Pin(to)
	})
	if err != nil {
		t.Fatalf("attach a stray tcx link: %v", err)
	}
}
