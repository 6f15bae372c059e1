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
var ratios = []struct{ a, b, title string }{
	{LAN, Veth, "macvlan ÷ veth"},
	{Uplink, Veth, "up0 ÷ veth"},
	{Uplink, UplinkBare, "up0 ÷ up0 bare"},
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
	head, sep := []string{"metric", "unit", "better"}, []string{"---", "---", "---"}
	for _, s := range Sides {
		head, sep = append(head, s.Title), append(sep, "---:")
	}
	for _, q := range ratios {
		head, sep = append(head, q.title), append(sep, "---:")
	}
	line(b, head)
	line(b, sep)
	var why []string
	for _, row := range report.Rows(r.Samples) {
		better := "lower"
		if row.Higher {
			better = "higher"
		}
		cells := []string{row.Metric, row.Unit, better}
		for _, s := range Sides {
			cells = append(cells, cellText(row.Cells[s.Key], &why))
		}
		for _, q := range ratios {
			if v, ok := row.Ratio(q.a, q.b); ok {
				cells = append(cells, fmt.Sprintf("%.2f", v))
			} else {
				cells = append(cells, "–")
			}
		}
		line(b, cells)
	}
	if len(why) > 0 {
		b.WriteString("\n")
	}
	for i, w := range why {
		fmt.Fprintf(b, "%d. %s\n", i+1, w)
	}
}

// cellText is "median (min–max)", or "n/a" or "failed" with a footnote.
func cellText(c *report.Cell, why *[]string) string {
	ref := func(text string) string {
		for i, t := range *why {
			if t == text {
				return fmt.Sprintf("[%d]", i+1)
			}
		}
		*why = append(*why, text)
		return fmt.Sprintf("[%d]", len(*why))
	}
	switch {
	case c == nil:
		return "not run"
	case c.N == 0 && c.NA != "":
		return "n/a " + ref("n/a: "+c.NA)
	case c.N == 0:
		return "failed " + ref("failed: "+c.Error)
	}
	s := report.Num(c.Median)
	if c.N > 1 {
		s += fmt.Sprintf(" (%s–%s)", report.Num(c.Min), report.Num(c.Max))
	}
	if c.Failed > 0 {
		s += fmt.Sprintf(" %d failed %s", c.Failed, ref("failed: "+c.Error))
	}
	return s
}

func line(b *strings.Builder, cells []string) {
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(c, "|", `\|`)
	}
	fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
}
