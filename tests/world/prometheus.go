package world

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Prometheus is Debian's Prometheus server in one of the world's
// namespaces, scraping one target every second, its data under the
// world's dir.
type Prometheus struct {
	w      *World
	netns  string
	listen string
	cmd    *exec.Cmd
}

// StartPrometheus starts Prometheus in netns on 127.0.0.1:9090, scraping
// target (HOST:PORT, path /metrics) every second, and stops it (by pid)
// at the end of the test.
func (w *World) StartPrometheus(netns, target string) *Prometheus {
	w.t.Helper()
	dir := filepath.Join(w.Dir, "prometheus")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		w.t.Fatalf("prometheus: %v", err)
	}
	conf := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"+
		"scrape_configs:\n  - job_name: ebpfnet\n    static_configs:\n      - targets: [%q]\n", target)
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		w.t.Fatalf("prometheus: %v", err)
	}
	p := &Prometheus{w: w, netns: netns, listen: "127.0.0.1:9090"}
	p.cmd = w.Cmd(netns, "prometheus", "--config.file="+confPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+p.listen, "--log.level=warn")
	p.cmd.Dir = dir
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		w.t.Fatalf("prometheus: %v", err)
	}
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		w.t.Fatalf("start prometheus: %v", err)
	}
	w.t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		_ = log.Close()
	})
	if !Wait(20*time.Second, func() bool { _, err := p.get("/-/ready"); return err == nil }) {
		raw, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
		w.t.Fatalf("prometheus is not ready on %s:\n%s", p.listen, raw)
	}
	return p
}

func (p *Prometheus) get(path string, args ...string) (string, error) {
	argv := []string{"curl", "-sfG", "--max-time", "5", "http://" + p.listen + path}
	for _, a := range args {
		argv = append(argv, "--data-urlencode", a)
	}
	return p.w.Exec(p.netns, argv...)
}

// Query evaluates an instant query through Prometheus's HTTP API and
// returns each series's value by its labels, as "k=v,k=v".
func (p *Prometheus) Query(expr string) (map[string]float64, error) {
	out, err := p.get("/api/v1/query", "query="+expr)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w: %s", expr, err, out)
	}
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		return nil, fmt.Errorf("query %s: %w: %s", expr, err, out)
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("query %s: status %q: %s", expr, resp.Status, out)
	}
	got := map[string]float64{}
	for _, r := range resp.Data.Result {
		var labels []string
		for k, v := range r.Metric {
			labels = append(labels, k+"="+v)
		}
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v", expr, r.Value[1])
		}
		slices.Sort(labels)
		got[strings.Join(labels, ",")] = v
	}
	return got, nil
}

// Series is one series of a range query: its labels and its samples.
type Series struct {
	Labels map[string]string
	Times  []time.Time
	Values []float64
}

// QueryRange evaluates a range query through Prometheus's HTTP API.
func (p *Prometheus) QueryRange(expr string, start, end time.Time, step time.Duration) ([]Series, error) {
	out, err := p.get("/api/v1/query_range", "query="+expr, fmt.Sprintf("start=%d", start.Unix()),
		fmt.Sprintf("end=%d", end.Unix()), fmt.Sprintf("step=%gs", step.Seconds()))
	if err != nil {
		return nil, fmt.Errorf("query_range %s: %w: %s", expr, err, out)
	}
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		return nil, fmt.Errorf("query_range %s: %w: %s", expr, err, out)
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("query_range %s: status %q: %s", expr, resp.Status, out)
	}
	var all []Series
	for _, r := range resp.Data.Result {
		s := Series{Labels: r.Metric}
		for _, v := range r.Values {
			ts, _ := v[0].(float64)
			str, _ := v[1].(string)
			f, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return nil, fmt.Errorf("query_range %s: value %v", expr, v[1])
			}
			s.Times = append(s.Times, time.Unix(0, int64(ts*1e9)))
			s.Values = append(s.Values, f)
		}
		all = append(all, s)
	}
	return all, nil
}
