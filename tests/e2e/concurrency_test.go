package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// The concurrency network hands out dynamic addresses from .2-.127, more
// than a run creates, so no address may ever come back, even after a
// removal; static claims take .128 and up.
const (
	concClients = 100
	concSubnet  = "10.40.0.0/24"
	concRange   = "10.40.0.0/25"
	ephemeral   = 32768 // where the kernel's ip_local_port_range starts
)

// concName is client i's endpoint; -1 is the endpoint the clients share.
// Clients come in tens: in each, i%10 says what a client does, and 4,5
// and 6,7 are pairs making the same claim.
func concName(w *world.World, i int) string {
	if i < 0 {
		return w.Name("shared")
	}
	return w.Name(fmt.Sprintf("p%02d", i))
}

// concLabel is what the final states of two runs are compared by: a pair's
// two endpoints stand for each other, since either may win.
func concLabel(w *world.World, name string) string {
	var i int
	if _, err := fmt.Sscanf(strings.TrimPrefix(name, w.ID+"-"), "p%d", &i); err != nil {
		return strings.TrimPrefix(name, w.ID+"-")
	}
	if inPair(i) {
		return fmt.Sprintf("pair%d", i/2)
	}
	return fmt.Sprintf("p%02d", i)
}

func inPair(i int) bool { return i%10 >= 4 && i%10 <= 7 }

// hold is an address or host port a response handed out, and the span it
// was certainly held: from the response until the call giving it back
// was sent.
type hold struct {
	what, holder string
	cport        uint16    // the container port a host port leads to
	from, until  time.Time // until zero: still held
}

// outcome is how one call of a client ended.
type outcome struct {
	client int
	op     string
	err    error
}

// recorder keeps every hand-out of a run and every call's outcome.
type recorder struct {
	mu       sync.Mutex
	holds    []*hold
	outcomes []outcome
}

func (r *recorder) result(i int, op string, err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, outcome{i, op, err})
	return err
}

// outcome is the error of client i's call op; found is false if it made
// no such call.
func (r *recorder) outcome(i int, op string) (err error, found bool) {
	for _, o := range r.outcomes {
		if o.client == i && o.op == op {
			return o.err, true
		}
	}
	return nil, false
}

func (r *recorder) handOut(what, holder string, cport uint16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holds = append(r.holds, &hold{what: what, holder: holder, cport: cport, from: time.Now()})
}

// giveBack ends the holds of holder that match, as its call to release
// them is sent.
func (r *recorder) giveBack(holder string, match func(*hold) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for _, h := range r.holds {
		if h.holder == holder && h.until.IsZero() && match(h) {
			h.until = now
		}
	}
}

func heldPort(p api.Port) string { return fmt.Sprintf("port %s:%d/%s", p.HostIP, p.HostPort, p.Proto) }

func (r *recorder) ports(holder string, ps []api.Port) {
	for _, p := range ps {
		r.handOut(heldPort(p), holder, p.ContainerPort)
	}
}

// concClient runs client i's calls on a connection of its own.
func concClient(ctx context.Context, w *world.World, rec *recorder, i int) {
	cl := api.NewClient(w.Socket)
	defer cl.Close()
	name := concName(w, i)
	create := func(req api.EndpointCreate) error {
		req.Name, req.Network = name, "conc"
		ep, err := cl.CreateEndpoint(ctx, req)
		if err == nil {
			rec.handOut("ip "+ep.Interfaces[0].IP, name, 0)
			if ps, err := cl.Ports(ctx, name); err == nil {
				rec.ports(name, ps)
			}
		}
		return rec.result(i, "create", err)
	}
	publishOn := func(endpoint string, specs ...string) error {
		ps, err := cl.Publish(ctx, endpoint, specs)
		rec.ports(endpoint, ps)
		return rec.result(i, "publish "+strings.Join(specs, ","), err)
	}
	publish := func(specs ...string) error { return publishOn(name, specs...) }
	unpublish := func(spec string, cport uint16) {
		rec.giveBack(name, func(h *hold) bool { return h.cport == cport })
		_, err := cl.Unpublish(ctx, name, []string{spec})
		rec.result(i, "unpublish "+spec, err)
	}
	k := i / 10
	switch i % 10 {
	case 0, 1: // random host ports only; a host port of its own on the shared endpoint
		if create(api.EndpointCreate{Publish: []string{"80", "53/udp"}}) == nil {
			_ = publish("443")
		}
		_ = publishOn(concName(w, -1), fmt.Sprintf("%d:%d", 29000+i, 8000+i))
	case 2, 3: // a host port of its own and a random one that goes again; a random one on the shared endpoint
		if create(api.EndpointCreate{}) == nil && publish(fmt.Sprintf("%d:80", 30000+i), "5353/udp") == nil {
			unpublish("5353/udp", 5353)
		}
		_ = publishOn(concName(w, -1), fmt.Sprint(8000+i))
	case 4, 5: // both of a pair claim one host port
		if create(api.EndpointCreate{}) == nil {
			_ = publish(fmt.Sprintf("%d:80", 31000+k))
		}
	case 6, 7: // both of a pair claim one address, and one host port with it
		_ = create(api.EndpointCreate{IP: fmt.Sprintf("10.40.0.%d", 128+k), Publish: []string{fmt.Sprintf("%d:80", 32000+k)}})
	case 8, 9: // comes and goes
		if create(api.EndpointCreate{Publish: []string{"8080"}}) == nil && publish("9090") == nil {
			unpublish("8080", 8080)
			rec.giveBack(name, func(*hold) bool { return true })
			rec.result(i, "remove", cl.RemoveEndpoint(ctx, name))
		}
	}
}

// runClients runs every client, all at once or one after the other.
func runClients(t *testing.T, w *world.World, parallel bool) *recorder {
	t.Helper()
	rec := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if !parallel {
		for i := range concClients {
			concClient(ctx, w, rec, i)
		}
		return rec
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range concClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			concClient(ctx, w, rec, i)
		}()
	}
	stop := make(chan struct{})
	snapshots := make(chan int, 1)
	go func() { snapshots <- watchUnique(t, w, stop) }()
	close(start)
	wg.Wait()
	close(stop)
	t.Logf("%d snapshots of the store taken while the clients ran", <-snapshots)
	return rec
}

// watchUnique lists endpoints and publications until stop, failing on any
// list that holds an address or host port twice; it returns how many
// lists it checked.
func watchUnique(t *testing.T, w *world.World, stop chan struct{}) int {
	cl := api.NewClient(w.Socket)
	defer cl.Close()
	ctx := context.Background()
	reported := map[string]bool{}
	for n := 0; ; n++ {
		select {
		case <-stop:
			return n
		default:
		}
		eps, err1 := cl.Endpoints(ctx)
		ps, err2 := cl.Ports(ctx, "")
		if err1 != nil || err2 != nil {
			t.Errorf("list while the clients run: %v, %v", err1, err2)
			return n
		}
		if d := duplicates(eps, ps); d != "" && !reported[d] {
			t.Errorf("while the clients run, %s", d)
			reported[d] = true
		}
	}
}

// duplicates names an address or host port held twice, if any.
func duplicates(eps []api.Endpoint, ps []api.Port) string {
	seen := map[string]string{}
	for _, e := range eps {
		for _, i := range e.Interfaces {
			if o, ok := seen[i.IP]; ok {
				return fmt.Sprintf("%s holds %s, as %s does", e.Name, i.IP, o)
			}
			seen[i.IP] = e.Name
		}
	}
	for _, p := range ps {
		k := heldPort(p)
		if o, ok := seen[k]; ok {
			return fmt.Sprintf("%s holds %s, as %s does", p.Endpoint, k, o)
		}
		seen[k] = p.Endpoint
	}
	return ""
}

// Issue 6, point 5: a hundred API clients at once leave the state the same
// clients leave run one by one, and no address or host port is ever handed
// out twice.
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	worlds := map[bool]*world.World{}
	recs := map[bool]*recorder{}
	held := map[bool][2]api.Resources{}
	for _, parallel := range []bool{true, false} {
		w := newWorld(t)
		w.MustCLI("network", "create", "conc", "--subnet", concSubnet, "--ip-range", concRange)
		w.MustCLI("endpoint", "create", concName(w, -1), "--network", "conc")
		// Settled: the same fds and goroutines twice in a row (a thread
		// that entered the endpoint's namespace may still be exiting).
		var last api.Resources
		before := settled(t, w, func(r api.Resources) bool {
			same := r.FDs == last.FDs && r.Goroutines == last.Goroutines
			last = r
			return same
		})
		start := time.Now()
		recs[parallel] = runClients(t, w, parallel)
		t.Logf("%d clients, parallel %v: %v", concClients, parallel, time.Since(start).Round(time.Millisecond))
		// A socket holds each publication; the clients' connections go.
		want := before.FDs + len(portsOf(t, w))
		held[parallel] = [2]api.Resources{before, settled(t, w, func(r api.Resources) bool {
			return r.FDs == want && r.Goroutines == before.Goroutines
		})}
		worlds[parallel] = w
	}
	par, seq := worlds[true], worlds[false]
	t.Run("one winner per claim", func(t *testing.T) {
		for _, parallel := range []bool{true, false} {
			oneWinner(t, recs[parallel], parallel)
		}
	})
	t.Run("nothing handed out twice", func(t *testing.T) {
		heldTwice(t, "parallel", recs[true])
		heldTwice(t, "sequential", recs[false])
	})
	t.Run("store and kernel agree", func(t *testing.T) {
		for parallel, w := range worlds {
			if d := inconsistencies(t, w); len(d) > 0 {
				t.Errorf("parallel %v: store and kernel disagree:\n  %s", parallel, strings.Join(d, "\n  "))
			}
		}
	})
	t.Run("same final state", func(t *testing.T) {
		got, want := finalState(t, par), finalState(t, seq)
		if !slices.Equal(got, want) {
			t.Errorf("final state of the parallel run:\n%s\nof the sequential run:\n%s",
				strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("connections released", func(t *testing.T) {
		for parallel, r := range held {
			before, after := r[0], r[1]
			if after.Goroutines != before.Goroutines || after.FDs-before.FDs != len(portsOf(t, worlds[parallel])) {
				t.Errorf("parallel %v: %d fds and %d goroutines before, %d and %d after, with %d publications",
					parallel, before.FDs, before.Goroutines, after.FDs, after.Goroutines, len(portsOf(t, worlds[parallel])))
			}
		}
	})
}

// oneWinner checks every call's outcome: only one of a pair may fail,
// and with a conflict, and of each pair exactly one wins.
func oneWinner(t *testing.T, rec *recorder, parallel bool) {
	t.Helper()
	for _, o := range rec.outcomes {
		if o.err != nil && (!inPair(o.client) || api.Code(o.err) != http.StatusConflict) {
			t.Errorf("parallel %v: client %d: %s: %v", parallel, o.client, o.op, o.err)
		}
	}
	for k := range concClients / 10 {
		for first, op := range map[int]string{10*k + 4: fmt.Sprintf("publish %d:80", 31000+k), 10*k + 6: "create"} {
			a, foundA := rec.outcome(first, op)
			b, foundB := rec.outcome(first+1, op)
			if !foundA || !foundB || (a == nil) == (b == nil) {
				t.Errorf("parallel %v: clients %d and %d claim with %s: errors %v and %v; want one winner",
					parallel, first, first+1, op, a, b)
			}
		}
	}
}

// heldTwice fails if an address is handed out twice (the pool holds more
// than a run takes, so none may come back), or if two holds of a host port
// overlap (the kernel may choose a random one again once it is free).
func heldTwice(t *testing.T, what string, rec *recorder) {
	t.Helper()
	by := map[string][]*hold{}
	for _, h := range rec.holds {
		by[h.what] = append(by[h.what], h)
	}
	again := 0
	for what, hs := range by {
		if len(hs) == 1 {
			continue
		}
		again++
		if strings.HasPrefix(what, "ip ") {
			t.Errorf("%s handed out %d times, to %s and %s", what, len(hs), hs[0].holder, hs[1].holder)
		} else if a, b := overlapping(hs); a != nil {
			t.Errorf("%s held by %s and %s at once", what, a.holder, b.holder)
		}
	}
	t.Logf("%s: %d addresses and host ports handed out, %d of them more than once", what, len(by), again)
}

// overlapping finds two holds that overlap in time.
func overlapping(hs []*hold) (*hold, *hold) {
	for x, a := range hs {
		for _, b := range hs[x+1:] {
			if overlap(a, b) {
				return a, b
			}
		}
	}
	return nil, nil
}

func overlap(a, b *hold) bool {
	end := func(h *hold) time.Time {
		if h.until.IsZero() {
			return time.Now()
		}
		return h.until
	}
	return a.from.Before(end(b)) && b.from.Before(end(a))
}

// finalState is a world's endpoints and publications by label: addresses
// the pool chose and host ports the kernel chose are shown as such, since
// the order of the calls decides which.
func finalState(t *testing.T, w *world.World) []string {
	t.Helper()
	cl := api.NewClient(w.Socket)
	defer cl.Close()
	st, err := readStore(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	eps, ps := st.eps, st.ports
	ports := map[string][]string{}
	for _, p := range ps {
		host := fmt.Sprint(p.HostPort)
		if p.HostPort >= ephemeral {
			host = "random"
		}
		ports[p.Endpoint] = append(ports[p.Endpoint], fmt.Sprintf("%s:%s->%d/%s", p.HostIP, host, p.ContainerPort, p.Proto))
	}
	rng := netip.MustParsePrefix(concRange)
	var out []string
	for _, e := range eps {
		ip := e.Interfaces[0].IP
		if rng.Contains(netip.MustParseAddr(ip)) {
			ip = "dynamic"
		}
		slices.Sort(ports[e.Name])
		out = append(out, fmt.Sprintf("%s %s on %s: %s", concLabel(w, e.Name), ip, e.Interfaces[0].Network, strings.Join(ports[e.Name], " ")))
	}
	slices.Sort(out)
	return out
}
