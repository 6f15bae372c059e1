package macvlan

import (
	"fmt"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/bench/report"
)

// ratios are the table's ratio columns: each macvlan side against the
// limit, and the uplink's programs' cost, the ebpfnet side against the
// bare one.
var ratios = []report.Ratio{
	{A: LAN, B: Veth, Title: "macvlan ÷ veth"},
	{A: Uplink, B: Veth, Title: "up0 ÷ veth"},
	{A: Uplink, B: UplinkBare, Title: "up0 ÷ up0 bare"},
}

// Markdown renders the run: the machine, the command and method, the
// table of medians, then the notes.
func Markdown(r *report.Run) string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# macvlan endpoints against a raw veth\n\n")
	fmt.Fprintf(&b, "- machine: %s, %d cores, %s memory, kernel %s\n", m.CPU, m.Cores, m.Memory, m.Kernel)
	fmt.Fprintf(&b, "- command: `%s`\n", r.Command)
	fmt.Fprintf(&b, "- started %s, took %s\n", r.Started.Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	fmt.Fprintf(&b, "- method: %s\n\n", r.Method)
	Table(&b, r)
	if len(r.Notes) > 0 {
		fmt.Fprintf(&b, "\nNotes:\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// Table writes the table of medians, a column per side and per ratio,
// with footnotes for the cells without figures.
func Table(b *strings.Builder, r *report.Run) {
	cols := make([]report.Column, len(Sides))
	for i, s := range Sides {
		cols[i] = report.Column{Key: s.Key, Title: s.Title}
	}
	report.Table(b, report.Rows(r.Samples), cols, ratios)
}
