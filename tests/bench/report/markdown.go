package report

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Markdown renders the run: the machine, the command and method, a table
// per group, then the notes.
func Markdown(r *Run) string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# ebpfnet benchmark\n\n")
	fmt.Fprintf(&b, "- machine: %s, %d cores, %s memory, kernel %s\n", m.CPU, m.Cores, m.Memory, m.Kernel)
	fmt.Fprintf(&b, "- command: `%s`\n", r.Command)
	fmt.Fprintf(&b, "- started %s, took %s\n", r.Started.Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	fmt.Fprintf(&b, "- method: %s\n", r.Method)
	rows := byGroup(r)
	for _, g := range r.Groups {
		var in []*Row
		for _, row := range rows {
			if row.Group == g.Key {
				in = append(in, row)
			}
		}
		if len(in) > 0 {
			fmt.Fprintf(&b, "\n## %s\n\n", g.Title)
			table(&b, in)
			if g.Key == "scale" {
				flatness(&b, in)
			}
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(&b, "\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// ratios are the table's ratio columns: every figure against the peer and
// against the limit.
var ratios = [][2]string{{Ebpfnet, Peer}, {EbpfnetDocker, Docker}, {Ebpfnet, Limit}, {Peer, Limit}}

// Column is a side's column of a table: its key in the samples, its title.
type Column struct{ Key, Title string }

// Ratio is a column of medians' ratios: side A's over side B's.
type Ratio struct{ A, B, Title string }

func table(b *strings.Builder, rows []*Row) {
	cols := make([]Column, len(Sides))
	for i, s := range Sides {
		cols[i] = Column{s.Key, s.Title}
	}
	rs := make([]Ratio, len(ratios))
	for i, r := range ratios {
		rs[i] = Ratio{r[0], r[1], short(r[0]) + " ÷ " + short(r[1])}
	}
	Table(b, rows, cols, rs)
}

// Table writes rows as a table of medians, a column per side and per
// ratio, with footnotes for the cells without figures.
func Table(b *strings.Builder, rows []*Row, sides []Column, ratios []Ratio) {
	head := []string{"metric", "unit", "better"}
	for _, s := range sides {
		head = append(head, s.Title)
	}
	for _, r := range ratios {
		head = append(head, r.Title)
	}
	line(b, head)
	sep := []string{"---", "---", "---"}
	for range len(head) - 3 {
		sep = append(sep, "---:")
	}
	line(b, sep)
	var why footnotes
	for _, row := range rows {
		better := "lower"
		if row.Higher {
			better = "higher"
		}
		cells := []string{row.Metric, row.Unit, better}
		for _, s := range sides {
			cells = append(cells, cellText(row.Cells[s.Key], &why))
		}
		for _, r := range ratios {
			if v, ok := row.Ratio(r.A, r.B); ok {
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

// flatness is how the CRR rate holds up as ports are published: each
// side's median at N ports over its median at the fewest, per N.
func flatness(b *strings.Builder, rows []*Row) {
	if len(rows) < 2 {
		return
	}
	rows = slices.SortedStableFunc(slices.Values(rows), func(a, b *Row) int { return a.Ports - b.Ports })
	base := rows[0]
	fmt.Fprintf(b, "\nCRR rate at N published ports ÷ the rate at %s (1.00 is flat):\n\n", portsText(base.Ports))
	head := []string{"published ports"}
	sep := []string{"---"}
	for _, s := range Sides {
		head, sep = append(head, s.Title), append(sep, "---:")
	}
	line(b, head)
	line(b, sep)
	for _, row := range rows[1:] {
		cells := []string{portsText(row.Ports) + " ÷ " + portsText(base.Ports)}
		for _, s := range Sides {
			cells = append(cells, flatCell(row.Cells[s.Key], base.Cells[s.Key]))
		}
		line(b, cells)
	}
}

func flatCell(at, base *Cell) string {
	if at == nil || base == nil || at.N == 0 || base.N == 0 || base.Median == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", at.Median/base.Median)
}

func portsText(n int) string {
	if n == 1 {
		return "1 port"
	}
	return fmt.Sprintf("%d ports", n)
}

func line(b *strings.Builder, cells []string) {
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(c, "|", `\|`)
	}
	fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
}

// footnotes are a table's reasons for missing figures, each given once
// under the table and referred to by number in the cells.
type footnotes []string

func (f *footnotes) ref(text string) string {
	for i, t := range *f {
		if t == text {
			return fmt.Sprintf("[%d]", i+1)
		}
	}
	*f = append(*f, text)
	return fmt.Sprintf("[%d]", len(*f))
}

// cellText is "median (min–max)", or "n/a" or "failed" with a footnote.
func cellText(c *Cell, why *footnotes) string {
	switch {
	case c == nil:
		return "not run"
	case c.N == 0 && c.NA != "":
		return "n/a " + why.ref("n/a: "+c.NA)
	case c.N == 0:
		return "failed " + why.ref("failed: "+c.Error)
	}
	s := Num(c.Median)
	if c.N > 1 {
		s += fmt.Sprintf(" (%s–%s)", Num(c.Min), Num(c.Max))
	}
	if c.Failed > 0 {
		s += fmt.Sprintf(" %d failed %s", c.Failed, why.ref("failed: "+c.Error))
	}
	return s
}

// Num prints about three significant digits without exponents.
func Num(v float64) string {
	switch a := max(v, -v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
