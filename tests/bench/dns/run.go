package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Kinds of query.
const (
	Local     = "local"     // names and aliases of the network's endpoints
	Forwarded = "forwarded" // names of FwdZone, answered by the upstream
)

var kinds = []string{Local, Forwarded}

// Result is a whole run.
type Result struct {
	Options  Options   `json:"options"`
	Records  int       `json:"records"`
	Dnsperf  string    `json:"dnsperf"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Sides    []Side    `json:"sides"` // in Options.Sides' order
}

// Side is what one resolver did.
type Side struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Err is why the side has no figures: its setup failed, or (NA) its
	// build cannot do this yet.
	Err string `json:"error,omitempty"`
	NA  bool   `json:"na,omitempty"`
	// Setup is the time making the records took: ebpfnet's endpoint
	// creates; for aardvark-dns, writing its config and starting it.
	Setup time.Duration `json:"setup"`
	// RSS is the resolver's VmRSS with the records loaded, before any
	// load; RSSAfter after the last round. RSSBase, ebpfnet's only, is the
	// daemon's with its network made and no endpoint yet.
	RSS      uint64           `json:"rss"`
	RSSAfter uint64           `json:"rss_after"`
	RSSBase  uint64           `json:"rss_base,omitempty"`
	Kinds    map[string]*Kind `json:"kinds"`
}

// Kind is a side's figures for one kind of query, a Round each.
type Kind struct {
	Rounds []Round `json:"rounds"`
}

// Round is one dnsperf run and one latency run.
type Round struct {
	QPS float64 `json:"qps"`
	// CPU is the resolver's CPU time (user and system, all its threads)
	// over the dnsperf run per query answered: robust to other load on
	// the machine, which the rate is not.
	CPU        time.Duration  `json:"cpu_per_query"`
	Sent       int            `json:"sent"`
	Lost       int            `json:"lost"`
	AvgLatency time.Duration  `json:"avg_latency"` // dnsperf's, under its load
	Codes      map[string]int `json:"codes,omitempty"`
	P50        time.Duration  `json:"p50"`
	P99        time.Duration  `json:"p99"`
	LatN       int            `json:"latency_queries"`
	LatLost    int            `json:"latency_lost"`
	Err        string         `json:"error,omitempty"` // a failed run: its figures do not count
}

// sideRun is a side while it runs.
type sideRun struct {
	res    *Side
	w      *world.World
	client string         // netns of the client, hosts[0]
	server netip.AddrPort // where the resolver listens
	hosts  []host
	pid    func(context.Context) (int, error)
	files  map[string]string // query file of each kind
	names  map[string][]string
	edns   bool // asks with EDNS0
	stub   bool // dnsperf asks 127.0.0.11 from the world's cgroup
}

// host is an endpoint with its names; ip is known for those checked.
type host struct {
	name    string
	aliases []string
	ip      netip.Addr
}

func makeHosts(prefix string, o Options) []host {
	hs := make([]host, o.Endpoints)
	for i := range hs {
		hs[i].name = fmt.Sprintf("%s-c%d", prefix, i)
		for j := range o.Aliases {
			hs[i].aliases = append(hs[i].aliases, fmt.Sprintf("%s-c%d-a%d", prefix, i, j))
		}
	}
	return hs
}

// Run builds a world per side, measures and tears everything down. A side
// that cannot be set up has its Err; Run fails only when no side could be
// measured or the teardown failed.
func Run(ctx context.Context, o Options) (res Result, err error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := o.validate(); err != nil {
		return res, err
	}
	if os.Geteuid() != 0 {
		return res, errors.New("needs root: it builds network namespaces")
	}
	if _, err := exec.LookPath("dnsperf"); err != nil {
		return res, fmt.Errorf("dnsperf: %w (Debian's dnsperf)", err)
	}
	res = Result{Options: o, Records: o.Records(), Dnsperf: dnsperfVersion(), Started: time.Now()}
	t := &world.RunT{}
	defer func() {
		if cerr := t.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("teardown: %w\n%s", cerr, t.Logged()))
		}
		res.Finished = time.Now()
	}()
	if o.Bin == "" && slices.ContainsFunc(o.Sides, func(s string) bool { return strings.HasPrefix(s, Ebpfnet) }) {
		// Built once, into a temp dir of its own, removed last of all:
		// every world's teardown runs its system reset.
		if o.Bin, err = world.Binary(); err != nil {
			return res, err
		}
		t.Cleanup(func() { os.RemoveAll(filepath.Dir(o.Bin)) })
	}
	var sides, all []*sideRun // set up; all
	defer func() {
		for _, s := range all {
			res.Sides = append(res.Sides, *s.res)
		}
	}()
	for _, name := range o.Sides {
		fmt.Fprintf(o.Log, "setting up %s with %d endpoints, %d records ...\n", name, o.Endpoints, o.Records())
		s := &sideRun{res: &Side{Name: name, Kinds: map[string]*Kind{}}}
		all = append(all, s)
		var serr error
		var base string
		base, s.edns, s.stub = variant(name)
		switch base {
		case Aardvark:
			serr = setupAardvark(ctx, t, o, s)
		case Ebpfnet:
			serr = setupEbpfnet(ctx, t, o, s)
		}
		if serr == nil {
			serr = s.prepare(ctx, o)
		}
		if serr != nil {
			s.res.Err, s.res.NA = serr.Error(), isNA(serr)
			fmt.Fprintf(o.Log, "%s: %v\n", name, serr)
		} else {
			fmt.Fprintf(o.Log, "%s: %d records made in %s, RSS %.1f MiB\n", name, o.Records(), s.res.Setup.Round(time.Millisecond), mib(s.res.RSS))
			sides = append(sides, s)
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	if len(sides) == 0 {
		return res, errors.New("no side could be set up")
	}
	if o.Warmup > 0 {
		for _, k := range kinds {
			for _, s := range sides {
				fmt.Fprintf(o.Log, "warm-up: %s %s\n", s.res.Name, k)
				_, _ = s.dnsperf(ctx, o, k, o.Warmup)
			}
		}
	}
	for r := range o.Rounds {
		for _, k := range kinds {
			order := slices.Clone(sides)
			if r%2 == 1 {
				slices.Reverse(order) // neither side always goes first
			}
			for _, s := range order {
				rd := s.measure(ctx, o, k)
				s.res.Kinds[k].Rounds = append(s.res.Kinds[k].Rounds, rd)
				fmt.Fprintf(o.Log, "round %d %s %s: %s\n", r+1, s.res.Name, k, rd)
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
			}
		}
	}
	for _, s := range sides {
		if s.res.RSSAfter, err = s.rss(ctx); err != nil {
			return res, fmt.Errorf("%s: %w", s.res.Name, err)
		}
	}
	return res, nil
}

func (rd Round) String() string {
	if rd.Err != "" {
		return "failed: " + rd.Err
	}
	return fmt.Sprintf("%.0f q/s (%d lost of %d, dnsperf avg %s), resolver CPU %s/query; p50 %s p99 %s (%d queries, %d lost)",
		rd.QPS, rd.Lost, rd.Sent, rd.AvgLatency, rd.CPU, rd.P50, rd.P99, rd.LatN, rd.LatLost)
}

// prepare checks the side answers what it should, writes its query files
// and takes its RSS.
func (s *sideRun) prepare(ctx context.Context, o Options) error {
	srv := s.server
	first, last := s.hosts[0], s.hosts[len(s.hosts)-1]
	checks := []struct {
		name string
		want netip.Addr
	}{{last.name, last.ip}, {first.name, first.ip}, {"f0." + FwdZone, FwdAnswer}}
	if len(last.aliases) > 0 {
		checks = append(checks, struct {
			name string
			want netip.Addr
		}{last.aliases[len(last.aliases)-1], last.ip})
	}
	for i, c := range checks {
		wait := time.Second
		if i == 0 {
			wait = 15 * time.Second // the resolver may still be starting
		}
		got, err := lookupA(ctx, s.client, srv, c.name, wait)
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		if !slices.Contains(got, c.want) {
			return fmt.Errorf("check: A %s is %v, want %s", c.name, got, c.want)
		}
	}
	var local []string
	for _, h := range s.hosts {
		local = append(local, h.name)
		local = append(local, h.aliases...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(local), func(i, j int) { local[i], local[j] = local[j], local[i] })
	fwd := make([]string, o.ForwardNames)
	for i := range fwd {
		fwd[i] = fmt.Sprintf("f%d.%s", i, FwdZone)
	}
	s.names = map[string][]string{Local: local, Forwarded: fwd}
	s.files = map[string]string{}
	for k, names := range s.names {
		var b strings.Builder
		for _, n := range names {
			b.WriteString(n + " A\n")
		}
		s.files[k] = filepath.Join(s.w.Dir, "queries-"+k)
		if err := os.WriteFile(s.files[k], []byte(b.String()), 0o644); err != nil {
			return err
		}
		s.res.Kinds[k] = &Kind{}
	}
	var err error
	s.res.RSS, err = s.rss(ctx)
	return err
}

// measure is one round of a kind on a side: dnsperf, then the latency
// client.
func (s *sideRun) measure(ctx context.Context, o Options, k string) Round {
	var rd Round
	pid, err := s.pid(ctx)
	if err != nil {
		rd.Err = err.Error()
		return rd
	}
	cpu0, err := procCPU(pid)
	if err != nil {
		rd.Err = err.Error()
		return rd
	}
	st, err := s.dnsperf(ctx, o, k, o.Duration)
	if err == nil {
		err = st.check()
	}
	if cpu1, cerr := procCPU(pid); cerr != nil {
		err = errors.Join(err, cerr)
	} else if st.Completed > 0 {
		rd.CPU = (cpu1 - cpu0) / time.Duration(st.Completed)
	}
	rd.QPS, rd.Sent, rd.Lost, rd.AvgLatency, rd.Codes = st.QPS, st.Sent, st.Lost, st.AvgLatency, st.Codes
	if err != nil {
		rd.Err = err.Error()
		return rd
	}
	if s.stub {
		return rd // the latency client's sockets are the harness's, outside the world's cgroup
	}
	time.Sleep(500 * time.Millisecond) // let late answers drain
	l, err := measureLatency(ctx, s.client, s.server, s.names[k], o.LatencyConc, o.LatencyQueries, o.LatencyTimeout, s.edns)
	rd.P50, rd.P99, rd.LatN, rd.LatLost = l.P50, l.P99, l.N, l.Lost
	if err != nil {
		rd.Err = err.Error()
	}
	return rd
}

// dnsperf runs dnsperf as the side asks: with EDNS0 or without, at the
// resolver's address or, from the world's cgroup, at 127.0.0.11.
func (s *sideRun) dnsperf(ctx context.Context, o Options, kind string, d time.Duration) (perfStats, error) {
	var extra []string
	if s.edns {
		extra = append(extra, "-e")
	}
	server, into := s.server, func(*exec.Cmd) {}
	if s.stub {
		server, into = netip.MustParseAddrPort("127.0.0.11:53"), s.w.IntoCgroup
	}
	return runDnsperf(ctx, o.Dnsperf, s.client, server, s.files[kind], d, extra, into)
}

func (s *sideRun) rss(ctx context.Context) (uint64, error) {
	pid, err := s.pid(ctx)
	if err != nil {
		return 0, err
	}
	return world.VmRSS(pid)
}

// procCPU is a process's user and system time, all its threads, from
// /proc/PID/stat in USER_HZ ticks (100 a second on Linux).
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	// f[0] is field 3, the state: utime and stime are fields 14 and 15.
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func dnsperfVersion() string {
	out, _ := exec.Command("dnsperf", "-h").CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "Version "); ok {
			return "dnsperf " + strings.TrimSpace(v)
		}
	}
	return "dnsperf (version unknown)"
}

// notAvailable is why a side cannot be measured in this build.
type notAvailable struct{ reason string }

func (e notAvailable) Error() string { return e.reason }

func isNA(err error) bool {
	var n notAvailable
	return errors.As(err, &n)
}
