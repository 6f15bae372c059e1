package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

func TestAttachModes(t *testing.T) {
	cases := []struct {
		name   string
		daemon []string
		want   string // mode of every attached program
	}{
		{"auto is tcx", nil, "tcx"},
		{"tcx", []string{"--attach", "tcx"}, "tcx"},
		{"tc fallback", []string{"--attach", "tc"}, "tc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.daemon...)
			a, b := twoEndpoints(t, w, "web", "--subnet", "10.10.0.0/24")
			counted(t, w, a, "forward-peer", func() { mustPing(t, w, a, "10.10.0.3") })

			st := status(t, w)
			if len(st.Programs) != 2 {
				t.Fatalf("status shows %d programs, want one per endpoint: %+v", len(st.Programs), st.Programs)
			}
			for _, p := range st.Programs {
				if p.Mode != tc.want || p.Name != "enet_from_ep" || p.Hook != "ingress" {
					t.Fatalf("status shows %+v, want enet_from_ep on ingress in mode %s", p, tc.want)
				}
			}
			text := w.MustCLI("status")
			row := regexp.MustCompile(`(?m)^enet_from_ep\s+\d+\s+enetv\w+\s+\d+\s+ingress\s+` + tc.want + `$`)
			if len(row.FindAllString(text, -1)) != 2 {
				t.Fatalf("status does not show two enet_from_ep rows in mode %s:\n%s", tc.want, text)
			}

			for _, ep := range []string{a, b} {
				host := inspectEndpoint(t, w, ep).Interfaces[0].HostName
				filters := w.MustExec(w.Node, "tc", "filter", "show", "dev", host, "ingress")
				isTC := strings.Contains(filters, "bpf") && strings.Contains(filters, "enet_from_ep") &&
					strings.Contains(filters, "direct-action")
				tcx, isTCX := tcxLink(t, w, host)
				if isTC != (tc.want == "tc") || isTCX != (tc.want == "tcx") {
					t.Fatalf("%s: want only a %s attachment; tc filter: %v, tcx link: %v\n%s", host, tc.want, isTC, isTCX, filters)
				}
				if isTCX && tcx.ProgID != st.Programs[0].ID {
					t.Fatalf("the tcx link pinned for %s holds program %d, status shows %d", host, tcx.ProgID, st.Programs[0].ID)
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
		{"tc to tcx", []string{"--attach", "tc"}, nil, "tcx"},
		{"tcx to tc", nil, []string{"--attach", "tc"}, "tc"},
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
			if len(st.Programs) != 2 {
				t.Fatalf("after the switch status shows %d programs, want one per endpoint:\n%s", len(st.Programs), w.MustCLI("status"))
			}
			for _, p := range st.Programs {
				if p.Mode != tc.want || p.ID == old[0] {
					t.Fatalf("after the switch to %s: %+v (old program %d)", tc.want, p, old[0])
				}
			}
			for _, ep := range []string{a, b} {
				host := inspectEndpoint(t, w, ep).Interfaces[0].HostName
				filters := w.MustExec(w.Node, "tc", "filter", "show", "dev", host, "ingress")
				_, isTCX := tcxLink(t, w, host)
				if strings.Contains(filters, "enet_from_ep") != (tc.want == "tc") || isTCX != (tc.want == "tcx") {
					t.Fatalf("%s after the switch to %s: tcx link %v, tc filter:\n%s", host, tc.want, isTCX, filters)
				}
			}
			counted(t, w, a, "forward-peer", func() { mustPing(t, w, a, "10.10.0.3") })
		})
	}
}
