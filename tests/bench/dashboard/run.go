package dashboard

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Options are a dashboard run's.
type Options struct {
	Bin   string        // the ebpfnet binary
	Phase time.Duration // how long each kind of traffic runs
	Log   io.Writer
}

// MetricsAddr is where the run's daemon serves its metrics, in the node.
const MetricsAddr = "127.0.0.1:9108"

// Result is every panel's series over the run.
type Result struct {
	Start, End time.Time
	Series     map[string][][]world.Series // by panel title, per query
}

// run is one world with its daemon, Prometheus and traffic.
type run struct {
	o     Options
	t     *world.RunT
	w     *world.World
	prom  *world.Prometheus
	procs []*exec.Cmd
}

// Run builds the world, makes traffic of every kind in phases, and reads
// each panel's queries from Prometheus over the run.
func Run(ctx context.Context, o Options) (Result, error) {
	r := &run{o: o, t: &world.RunT{}}
	defer func() {
		for _, p := range r.procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
		if err := r.t.Close(); err != nil {
			fmt.Fprintf(o.Log, "teardown: %v\n", err)
		}
	}()
	if err := world.Try(r.setup); err != nil {
		return Result{}, err
	}
	res := Result{Start: time.Now(), Series: map[string][][]world.Series{}}
	if err := r.traffic(ctx); err != nil {
		return res, err
	}
	time.Sleep(3 * time.Second) // the last scrapes
	res.End = time.Now()
	for _, p := range Panels {
		for _, q := range p.Queries() {
			s, err := r.prom.QueryRange(WithWindow(q.Expr, "10s"), res.Start, res.End, 2*time.Second)
			if err != nil {
				return res, err
			}
			res.Series[p.Title] = append(res.Series[p.Title], s)
		}
	}
	return res, nil
}

func (r *run) setup() {
	r.w = world.New(r.t, r.o.Bin)
	w := r.w
	w.MustCLI(append(w.StartArgs(), "--metrics", MetricsAddr, "--gc-interval", "2s")...)
	r.prom = w.StartPrometheus(w.Node, MetricsAddr)
	w.MustCLI("network", "create", "web", "--subnet", "10.60.0.0/24")
	w.MustCLI("endpoint", "create", w.Name("a"), "--network", "web", "-p", "8080:80")
	w.MustCLI("endpoint", "create", w.Name("b"), "--network", "web")
	r.background(w.Name("a"), "socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo hello")
	r.background(w.Name("b"), "iperf3", "-s")
	w.MustExec(w.Name("a"), "ip", "addr", "add", "10.60.0.77/24", "dev", "eth0")
}

func (r *run) background(ns string, argv ...string) {
	cmd := r.w.Cmd(ns, argv...)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start %v: %v", argv, err)
	}
	r.procs = append(r.procs, cmd)
}

// traffic runs each phase for Options.Phase: pings, a bulk transfer,
// connections to a published port from outside, spoofed packets, and
// endpoints coming and going through the API.
func (r *run) traffic(ctx context.Context) error {
	w, a, b := r.w, r.w.Name("a"), r.w.Name("b")
	n := strconv.Itoa(int(r.o.Phase / (50 * time.Millisecond)))
	secs := strconv.Itoa(int(r.o.Phase.Seconds()))
	phases := []struct {
		name string
		do   func() error
	}{
		{"pings", func() error { return ignore(w.Exec(a, "ping", "-q", "-c", n, "-i", "0.05", "10.60.0.3")) }},
		{"bulk transfer", func() error { _, err := w.Exec(a, "iperf3", "-c", "10.60.0.3", "-t", secs); return err }},
		{"published port", func() error {
			return r.until(func() { _, _ = w.Exec(w.Ext, "curl", "-s", "-m", "1", "http://198.51.100.1:8080/") })
		}},
		{"spoofed packets", func() error {
			return ignore(w.Exec(a, "ping", "-q", "-c", n, "-i", "0.05", "-I", "10.60.0.77", "10.60.0.3"))
		}},
		{"endpoints come and go", r.churn},
		{"masquerade", func() error { return ignore(w.Exec(b, "ping", "-q", "-c", n, "-i", "0.05", "198.51.100.2")) }},
	}
	for _, p := range phases {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(r.o.Log, "dashboard: %s for %s\n", p.name, r.o.Phase)
		if err := p.do(); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return nil
}

// churn creates endpoints with a port each, then removes them.
func (r *run) churn() error {
	w := r.w
	half := time.Now().Add(r.o.Phase / 2)
	var names []string
	for i := 0; time.Now().Before(half); i++ {
		name := w.Name("c" + strconv.Itoa(i))
		if _, err := w.CLI("endpoint", "create", name, "--network", "web", "-p", strconv.Itoa(9000+i)+":80"); err != nil {
			return err
		}
		names = append(names, name)
		time.Sleep(200 * time.Millisecond)
	}
	for _, name := range names {
		if _, err := w.CLI("endpoint", "rm", name); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// until repeats fn for a phase.
func (r *run) until(fn func()) error {
	end := time.Now().Add(r.o.Phase)
	for time.Now().Before(end) {
		fn()
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// ignore: a ping whose answers are dropped fails, and is still traffic.
func ignore(string, error) error { return nil }

// Main is `go run ./tests/bench dashboard [-phase D] [-out DIR]`: a run,
// then DIR/dashboard.png and DIR/grafana-dashboard.json.
func Main(ctx context.Context, bin string, phase time.Duration, out string, log io.Writer) error {
	res, err := Run(ctx, Options{Bin: bin, Phase: phase, Log: log})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	png := filepath.Join(out, "dashboard.png")
	if err := Draw(res, png); err != nil {
		return err
	}
	raw, err := GrafanaJSON()
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "wrote %s and %s\n", png, filepath.Join(out, "grafana-dashboard.json"))
	return os.WriteFile(filepath.Join(out, "grafana-dashboard.json"), raw, 0o644)
}

// Command is `go run ./tests/bench dashboard [-phase D] [-out DIR]`.
func Command(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench dashboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	phase := fs.Duration("phase", 15*time.Second, "how long each kind of traffic runs")
	out := fs.String("out", "docs", "where dashboard.png and grafana-dashboard.json go")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	bin, err := world.Binary()
	if err != nil {
		return err
	}
	defer world.RemoveBinary()
	return Main(ctx, bin, *phase, *out, stderr)
}
