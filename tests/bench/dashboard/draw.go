package dashboard

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"regexp"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// scales turn a Grafana unit into a plotted one.
var scales = map[string]struct {
	by    float64
	label string
}{
	"pps": {1, "packets/s"}, "bps": {1e-6, "Mbit/s"}, "percentunit": {100, "% full"}, "short": {1, "count"},
	"reqps": {1, "requests/s"}, "s": {1e3, "ms"}, "bytes": {1.0 / (1 << 20), "MiB"},
}

var labelRE = regexp.MustCompile(`\{\{(\w+)\}\}`)

// legend fills a legend template with a series's labels.
func legend(tmpl string, labels map[string]string) string {
	return labelRE.ReplaceAllStringFunc(tmpl, func(m string) string { return labels[labelRE.FindStringSubmatch(m)[1]] })
}

// Draw draws every panel of a run, three to a row, into a PNG.
func Draw(res Result, path string) error {
	const cols = 3
	rows := (len(Panels) + cols - 1) / cols
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, p := range Panels {
		pl, err := panelPlot(p, res)
		if err != nil {
			return err
		}
		plots[i/cols][i%cols] = pl
	}
	img := vgimg.New(vg.Length(cols)*6*vg.Inch, vg.Length(rows)*3.6*vg.Inch)
	dc := draw.New(img)
	canvases := plot.Align(plots, draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}, dc)
	for i := range plots {
		for j, pl := range plots[i] {
			if pl != nil {
				pl.Draw(canvases[i][j])
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func panelPlot(p Panel, res Result) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text = "seconds into the run"
	sc := scales[p.Unit]
	pl.Y.Label.Text = sc.label
	pl.Legend.Top, pl.Legend.Left = true, true
	pl.Add(plotter.NewGrid())
	color := 0
	for qi, q := range p.Queries() {
		series := res.Series[p.Title]
		if qi >= len(series) {
			break
		}
		sorted := series[qi]
		sort.Slice(sorted, func(a, b int) bool { return legend(q.Legend, sorted[a].Labels) < legend(q.Legend, sorted[b].Labels) })
		for _, s := range sorted {
			if len(points(s, res, 1)) == 0 {
				continue
			}
			line, err := plotter.NewLine(points(s, res, sc.by))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Title, err)
			}
			line.Color = plotutil.Color(color)
			line.Width = vg.Points(1.5)
			color++
			pl.Add(line)
			pl.Legend.Add(legend(q.Legend, s.Labels), line)
		}
	}
	if color == 0 {
		pl.Title.Text += " (no data)"
		pl.Title.TextStyle.Color = color0()
	}
	pl.Y.Min = 0
	pl.X.Min, pl.X.Max = 0, res.End.Sub(res.Start).Seconds()
	return pl, nil
}

func color0() color.Color { return color.Gray{Y: 120} }

// points are a series's samples, scaled; those with no value (NaN, a
// quantile of no requests) are left out.
func points(s world.Series, res Result, by float64) plotter.XYs {
	xy := make(plotter.XYs, 0, len(s.Times))
	for i := range s.Times {
		if math.IsNaN(s.Values[i]) || math.IsInf(s.Values[i], 0) {
			continue
		}
		xy = append(xy, plotter.XY{X: s.Times[i].Sub(res.Start).Seconds(), Y: s.Values[i] * by})
	}
	return xy
}
