package e2e

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

func TestBPFListings(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := twoEndpoints(t, w, "web", "--subnet", "10.10.0.0/24", "--opt", "masquerade=false")
	mustPing(t, w, a, "10.10.0.3")
	web := inspectNetwork(t, w, "web")

	eps := cliJSON[[]api.BPFEndpoint](t, w, "bpf", "endpoints", "--json")
	if len(eps) != 2 {
		t.Fatalf("bpf endpoints --json: %+v, want two", eps)
	}
	for i, name := range []string{a, b} {
		ifc := inspectEndpoint(t, w, name).Interfaces[0]
		got := eps[i]
		if got.IP != ifc.IP || got.Endpoint != name || got.Network != "web" || got.NetID != web.ID ||
			got.Ifindex != ifc.HostIfindex || got.Interface != ifc.HostName || got.MAC != ifc.MAC {
			t.Fatalf("bpf endpoints entry %+v does not match endpoint %s %+v", got, name, ifc)
		}
	}
	var found bool
	for _, n := range cliJSON[[]api.BPFNetwork](t, w, "bpf", "networks", "--json") {
		if n.Network == "web" {
			found = n.ID == web.ID && n.Subnet == "10.10.0.0/24" && n.Gateway == "10.10.0.1" &&
				n.ICC && !n.Internal && !n.Masquerade && n.BridgeIfindex == links(t, w, w.Node)[web.Bridge].Index
		}
	}
	if !found {
		t.Fatalf("bpf networks does not show web right:\n%s", w.MustCLI("bpf", "networks"))
	}
	st := status(t, w)
	fill := map[string]int{}
	for _, m := range st.Maps {
		fill[m.Name] = m.Entries
	}
	if st.Networks != 2 || st.Endpoints != 2 || fill["enet_endpoints"] != 2 || fill["enet_networks"] != 2 || fill["enet_ifaces"] != 2 {
		t.Fatalf("status: %d networks, %d endpoints, map fill %v; want 2 each", st.Networks, st.Endpoints, fill)
	}
	tables := map[string]string{
		"endpoints": "IP  IFINDEX  INTERFACE  MAC  NETWORK  ENDPOINT",
		"networks":  "ID  NETWORK  SUBNET  GATEWAY  GATEWAY-MAC  BRIDGE-IFINDEX  ICC  INTERNAL  MASQUERADE",
		"stats":     "ENDPOINT  INTERFACE  IFINDEX  VERDICT  PACKETS  BYTES",
	}
	for cmd, header := range tables {
		out := w.MustCLI("bpf", cmd)
		if strings.Join(strings.Fields(strings.SplitN(out, "\n", 2)[0]), "  ") != header {
			t.Fatalf("bpf %s header:\n%s", cmd, out)
		}
		if !strings.Contains(out, a) && !strings.Contains(out, "web") {
			t.Fatalf("bpf %s names neither endpoint nor network:\n%s", cmd, out)
		}
	}
}

// TestBPFToolDump: the maps carry BTF, so bpftool prints named fields.
func TestBPFToolDump(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.Name("a")
	w.MustCLI("endpoint", "create", a)
	ifc := inspectEndpoint(t, w, a).Interfaces[0]

	text := w.MustExec(w.Node, "bpftool", "map", "dump", "pinned", w.BPFFS+"/enet_endpoints")
	for _, field := range []string{`"ifindex":`, `"mac":`, `"net_id":`, `"addr":`} {
		if !strings.Contains(text, field) {
			t.Fatalf("bpftool map dump enet_endpoints has no %s field:\n%s", field, text)
		}
	}
	var entries []struct {
		Formatted struct {
			Key struct {
				Addr []int `json:"addr"`
			} `json:"key"`
			Value struct {
				Ifindex int   `json:"ifindex"`
				MAC     []int `json:"mac"`
			} `json:"value"`
		} `json:"formatted"`
	}
	out := w.MustExec(w.Node, "bpftool", "-j", "map", "dump", "pinned", w.BPFFS+"/enet_endpoints")
	if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) != 1 {
		t.Fatalf("bpftool -j map dump: %v\n%s", err, out)
	}
	v := entries[0].Formatted
	var mac net.HardwareAddr
	for _, b := range v.Value.MAC {
		mac = append(mac, byte(b))
	}
	if v.Value.Ifindex != ifc.HostIfindex || mac.String() != ifc.MAC || len(v.Key.Addr) < 4 || v.Key.Addr[0] != 172 || v.Key.Addr[3] != 2 {
		t.Fatalf("enet_endpoints entry %+v; want 172.17.0.2 -> ifindex %d, MAC %s", v, ifc.HostIfindex, ifc.MAC)
	}
	for _, m := range []struct{ name, field string }{
		{"enet_networks", `"gateway_mac":`}, {"enet_ifaces", `"ip4":`}, {"enet_subnets", `"net_id":`},
	} {
		if out := w.MustExec(w.Node, "bpftool", "map", "dump", "pinned", w.BPFFS+"/"+m.name); !strings.Contains(out, m.field) {
			t.Fatalf("bpftool map dump %s has no %s field:\n%s", m.name, m.field, out)
		}
	}
}

// TestBPFToolFlowState (issue 11, finding 9): bpftool shows a flow's state
// as `ebpfnet bpf ct` does: a UDP flow that was answered is CT_REPLIED
// there and "replied" here, not CT_NEW.
func TestBPFToolFlowState(t *testing.T) {
	t.Parallel()
	w := pubWorld(t, "a")
	serve(t, w, w.Ext, "udp", ":5300", "ext")
	mustReach(t, w, w.Name("a"), false, "udp", "198.51.100.2:5300", "ext 198.51.100.1:", "198.51.100.2:5300")
	var states []string
	for _, f := range cliJSON[[]api.BPFFlow](t, w, "bpf", "ct", "--json") {
		if f.Proto == "udp" && f.Dst == "198.51.100.2:5300" {
			states = append(states, f.State)
		}
	}
	if len(states) != 1 || states[0] != "replied" {
		t.Fatalf("bpf ct shows the flow as %v, want replied", states)
	}
	// Not assured before two seconds: in enet_ct_new.
	out := w.MustExec(w.Node, "bpftool", "map", "dump", "pinned", w.BPFFS+"/enet_ct_new")
	if !strings.Contains(out, `"state": "CT_REPLIED"`) || strings.Contains(out, `"state": "CT_NEW"`) {
		t.Fatalf("bpftool shows the answered flow as:\n%s", out)
	}
}
