package report

import (
	"fmt"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// RatioChart draws, for every path and workload, the rate (higher is
// better) of each side over the peer's and the limit's, as grouped bars.
// A bar missing for want of a figure is drawn at zero.
func RatioChart(r *Run, path string) error {
	var labels []string
	series := make([]plotter.Values, len(ratios))
	top := 1.0
	for _, row := range byGroup(r) {
		if !row.Higher || row.Group == "scale" || row.Group == "control" {
			continue
		}
		labels = append(labels, row.Group+"\n"+row.Metric)
		for i, q := range ratios {
			v, _ := row.Ratio(q[0], q[1])
			series[i] = append(series[i], v)
			top = max(top, v)
		}
	}
	p := plot.New()
	p.Title.Text = "rate ratios (higher is better; 1 = equal)"
	p.Y.Label.Text = "ratio of medians"
	p.Legend.Top = true
	if len(labels) == 0 {
		return save(p, 6, path)
	}
	width := vg.Points(10)
	for i, q := range ratios {
		bars, err := plotter.NewBarChart(series[i], width)
		if err != nil {
			return fmt.Errorf("ratio chart: %w", err)
		}
		bars.Offset = width * vg.Length(i-1)
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.Legend.Add(short(q[0])+" ÷ "+short(q[1]), bars)
	}
	one := plotter.NewFunction(func(float64) float64 { return 1 })
	one.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(one, plotter.NewGrid())
	p.NominalX(labels...)
	p.Y.Min, p.Y.Max = 0, top*1.25 // room for the legend
	p.X.Tick.Label.Rotation = 0.8
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	return save(p, max(6, 0.9*float64(len(labels))), path)
}

// ScaleChart draws each side's CRR rate through DNAT against the number of
// published ports, on a log axis.
func ScaleChart(r *Run, path string) error {
	p := plot.New()
	p.Title.Text = "new connections per second through DNAT"
	p.X.Label.Text = "published ports"
	p.Y.Label.Text = "conn/s (median)"
	p.Y.Min = 0
	var scale []*Row
	for _, row := range Rows(r.Samples) {
		if row.Group == "scale" && row.Ports > 0 {
			scale = append(scale, row)
		}
	}
	slices.SortFunc(scale, func(a, b *Row) int { return a.Ports - b.Ports })
	if len(scale) > 1 {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	for i, s := range Sides {
		var xys plotter.XYs
		for _, row := range scale {
			if c := row.Cells[s.Key]; c != nil && c.N > 0 {
				xys = append(xys, plotter.XY{X: float64(row.Ports), Y: c.Median})
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("scale chart: %w", err)
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.Title, l, pts)
	}
	p.Add(plotter.NewGrid())
	return save(p, 7, path)
}

func save(p *plot.Plot, widthInches float64, path string) error {
	if err := p.Save(vg.Length(widthInches)*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}
