package e2e

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

func TestAttachModes(t *testing.T) {
	cases := []struct {
		name     string
		daemon   []string
		want     string // mode of every attached program but enet_from_ep
		endpoint string // enet_from_ep's
	}{
		{"auto is tcx, and tc on endpoint veths", nil, "tcx", "tc"},
		{"tcx", []string{"--attach", "tcx"}, "tcx", "tcx"},
		{"tc fallback", []string{"--attach", "tc"}, "tc", "tc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.daemon...)
			a, b := twoEndpoints(t, w, "web", "--subnet", "10.10.0.0/24")
			grows(t, w, a, "forward-peer", func() { mustPing(t, w, a, "10.10.0.3") })

			st := status(t, w)
			progs := endpointPrograms(t, st)
			for _, p := range st.Programs {
				if want := tc.want; p.Mode != want && (p.Name != "enet_from_ep" || p.Mode != tc.endpoint) {
					t.Fatalf("status shows %+v, want mode %s (enet_from_ep %s)", p, want, tc.endpoint)
				}
			}
			text := w.MustCLI("status")
			row := regexp.MustCompile(`(?m)^enet_from_ep\s+\d+\s+enetv\w+\s+\d+\s+ingress\s+` + tc.endpoint + `$`)
			if len(row.FindAllString(text, -1)) != 2 {
				t.Fatalf("status does not show two enet_from_ep rows in mode %s:\n%s", tc.want, text)
			}
			// One on each bridge: the default network's and web's.
			row = regexp.MustCompile(`(?m)^enet_to_br\s+\d+\s+enet[-0]\w*\s+\d+\s+egress\s+` + tc.want + `$`)
			if len(row.FindAllString(text, -1)) != 2 {
				t.Fatalf("status does not show enet_to_br on both bridges in mode %s:\n%s", tc.want, text)
			}

			for _, ep := range []string{a, b} {
				host := inspectEndpoint(t, w, ep).Interfaces[0].HostName
				filters := w.MustExec(w.Node, "tc", "filter", "show", "dev", host, "ingress")
				isTC := strings.Contains(filters, "bpf") && strings.Contains(filters, "enet_from_ep") &&
					strings.Contains(filters, "direct-action")
				tcx, isTCX := tcxLink(t, w, host)
				if isTC != (tc.endpoint == "tc") || isTCX != (tc.endpoint == "tcx") {
					t.Fatalf("%s: want only a %s attachment; tc filter: %v, tcx link: %v\n%s", host, tc.endpoint, isTC, isTCX, filters)
				}
				if isTCX && tcx.ProgID != progs[host].ID {
					t.Fatalf("the tcx link pinned for %s holds program %d, status shows %d", host, tcx.ProgID, progs[host].ID)
				}
			}
		})
	}
}

// bpfLink is a link as `bpftool -j link show` prints it.
type bpfLink struct {
	ID     uint32 `json:"id"`
	Type   any    `json:"type"` // a name, or a number where bpftool predates the type
	ProgID uint32 `json:"prog_id"`
}

// tcxLink is the tcx link the daemon pinned for a host device, if any.
func tcxLink(t *testing.T, w *world.World, host string) (bpfLink, bool) {
	t.Helper()
	out, err := w.Exec(w.Node, "bpftool", "-j", "link", "show", "pinned", w.BPFFS+"/links/"+host+"_ingress")
	if err != nil {
		return bpfLink{}, false
	}
	var l bpfLink
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("bpftool link show: %v\n%s", err, out)
	}
	// bpftool before 7.3 knows tcx only as BPF_LINK_TYPE_TCX, 11.
	return l, l.Type == "tcx" || l.Type == float64(11)
}

// TestAttachModeSwitch: a daemon started again in the other mode takes the
// old attachment off, so the old program stops running.
func TestAttachModeSwitch(t *testing.T) {
	cases := []struct {
		name     string
		from, to []string
		want     string
	}{
		{"tc to tcx", []string{"--attach", "tc"}, []string{"--attach", "tcx"}, "tcx"},
		{"tcx to tc", []string{"--attach", "tcx"}, []string{"--attach", "tc"}, "tc"},
		{"tcx to auto: endpoint veths tc", []string{"--attach", "tcx"}, nil, "auto"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.from...)
			a, b := twoEndpoints(t, w, "web", "--subnet", "10.10.0.0/24")
			old := programIDs(t, w)
			w.StopDaemon()
			w.StartDaemon(tc.to...)

			st := status(t, w)
			endpointPrograms(t, st)
			// auto: tcx, but tc on endpoint veths.
			want, epWant := tc.want, tc.want
			if tc.want == "auto" {
				want, epWant = "tcx", "tc"
			}
			for _, p := range st.Programs {
				m := want
				if p.Name == "enet_from_ep" {
					m = epWant
				}
				if p.Mode != m || slices.Contains(old, p.ID) {
					t.Fatalf("after the switch to %s: %+v (the old daemon's programs: %v)", tc.want, p, old)
				}
			}
			for _, ep := range []string{a, b} {
				host := inspectEndpoint(t, w, ep).Interfaces[0].HostName
				filters := w.MustExec(w.Node, "tc", "filter", "show", "dev", host, "ingress")
				_, isTCX := tcxLink(t, w, host)
				if strings.Contains(filters, "enet_from_ep") != (epWant == "tc") || isTCX != (epWant == "tcx") {
					t.Fatalf("%s after the switch to %s: tcx link %v, tc filter:\n%s", host, tc.want, isTCX, filters)
				}
			}
			grows(t, w, a, "forward-peer", func() { mustPing(t, w, a, "10.10.0.3") })
		})
	}
}

// endpointPrograms are the enet_from_ep programs status shows, by host
// device; it fails unless there is exactly one on the ingress of each of
// the world's two endpoints.
func endpointPrograms(t *testing.T, st api.Status) map[string]api.Program {
	t.Helper()
	out := map[string]api.Program{}
	for _, p := range st.Programs {
		if p.Name == "enet_from_ep" {
			if _, dup := out[p.Interface]; dup || p.Hook != "ingress" {
				t.Fatalf("status shows %+v beside %+v", p, out[p.Interface])
			}
			out[p.Interface] = p
		}
	}
	if len(out) != 2 {
		t.Fatalf("status shows enet_from_ep on %d devices, want one per endpoint: %+v", len(out), st.Programs)
	}
	return out
}
