package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/bench/cni"
	"github.com/ebpfnet/ebpfnet/tests/bench/report"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// peerSide is the CNI reference plugins in their world: every libcni call
// runs in the world's node namespace, where the plugins make the bridge and
// the iptables rules; their cache and IPAM state live in the world's dir.
type peerSide struct {
	h       *harness
	w       *world.World
	conf    json.RawMessage
	cache   string
	a, b, s string // netns names
	ip      map[string]netip.Addr
	scale   []cni.Port // what S was last added with
	// The ADDs of S so far, smallest first, and the size of one that was
	// stopped: what a larger one cannot beat.
	adds    []added
	stopped int
}

type added struct {
	n    int
	took time.Duration
}

func newPeer(ctx context.Context, h *harness) (side, error) {
	p := &peerSide{h: h, ip: map[string]netip.Addr{}}
	var err error
	if p.w, err = h.newWorld(false); err != nil {
		return nil, err
	}
	dir := filepath.Join(p.w.Dir, "cni")
	p.cache = filepath.Join(dir, "cache")
	p.conf = cni.ConfList("bench", "cni0", subnet, filepath.Join(dir, "ipam"))
	p.a, p.b, p.s = p.w.Name("a"), p.w.Name("b"), p.w.Name("s")
	for _, ns := range []string{p.a, p.b, p.s} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ip netns add %s: %w: %s", ns, err, out)
		}
	}
	bPorts := []cni.Port{
		{HostPort: hostStream, ContainerPort: streamPort, Protocol: "tcp"},
		{HostPort: hostLoad, ContainerPort: loadPort, Protocol: "tcp"},
		{HostPort: hostLoad, ContainerPort: loadPort, Protocol: "udp"},
	}
	resp, err := p.call(ctx, "add", p.attach(p.a, nil, false), p.attach(p.b, bPorts, false))
	if err != nil {
		return nil, err
	}
	for i, ns := range []string{p.a, p.b} {
		if p.ip[ns], err = netip.ParseAddr(resp.IPs[i]); err != nil {
			return nil, fmt.Errorf("cni add: address %q: %w", resp.IPs[i], err)
		}
	}
	for _, s := range []struct {
		ns     string
		stream bool
	}{{p.b, true}, {p.s, false}, {p.w.Ext, true}} {
		if err := h.serve(s.ns, s.stream); err != nil {
			return nil, err
		}
	}
	return p, h.tune(p.a, p.w.Ext, p.w.Node)
}

func (p *peerSide) Name() string { return report.Peer }

func (p *peerSide) attach(netns string, ports []cni.Port, own bool) cni.Attachment {
	return cni.Attachment{ID: netns, Netns: "/run/netns/" + netns, Own: own, Ports: ports}
}

// call runs a cni.Request of the reference plugins in the node netns.
func (p *peerSide) call(ctx context.Context, op string, attach ...cni.Attachment) (cni.Response, error) {
	return p.h.cni(ctx, p.w.Node, cni.Request{Op: op, CacheDir: p.cache, ConfList: p.conf, Attach: attach})
}

// cni runs a cni.Request by re-executing the harness in a netns.
func (h *harness) cni(ctx context.Context, netns string, r cni.Request) (cni.Response, error) {
	req, err := json.Marshal(r)
	if err != nil {
		return cni.Response{}, err
	}
	cmd := nsCmd(ctx, netns, h.self, "cni")
	cmd.Stdin = bytes.NewReader(req)
	out, runErr := output(cmd)
	var resp cni.Response
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, fmt.Errorf("cni %s: %w", r.Op, errors.Join(runErr, err))
	}
	if resp.Error != "" {
		return resp, fmt.Errorf("cni %s: %s", r.Op, resp.Error)
	}
	return resp, runErr
}

func (p *peerSide) Target(path string) (Target, error) {
	return worldTarget(p.w, p.a, p.ip[p.b], path)
}

// Publish is one CNI ADD of S with n port mappings: with the reference
// plugins a container's ports can only be given at ADD. An ADD still
// running at -publish-timeout is stopped and reported as not available;
// one that cannot finish in time, since a smaller one was stopped or took
// too long per mapping (portmap adds a rule at a time), is not started.
func (p *peerSide) Publish(ctx context.Context, n int) (Target, time.Duration, error) {
	limit := p.h.opts.PublishTimeout
	if p.stopped > 0 && n > p.stopped {
		return Target{}, 0, na("not tried: the ADD of %d port mappings was already stopped after %s", p.stopped, limit)
	}
	if est, ok := p.atLeast(n); ok && est > limit {
		first, last := p.span()
		return Target{}, 0, na("not tried: ADDs of %d and %d port mappings took %s and %s; %d would take over %s, past the %s limit",
			first.n, last.n, first.took.Round(10*time.Millisecond), last.took.Round(time.Second), n, est.Round(time.Second), limit)
	}
	p.scale = nil
	for _, hp := range scalePorts(n) {
		cp := hp
		if hp == scalePort {
			cp = loadPort
		}
		p.scale = append(p.scale, cni.Port{HostPort: hp, ContainerPort: cp, Protocol: "tcp"})
	}
	tctx, cancel := context.WithTimeout(ctx, p.h.opts.PublishTimeout)
	defer cancel()
	resp, err := p.call(tctx, "add", p.attach(p.s, p.scale, false))
	if err != nil {
		if ctx.Err() == nil && tctx.Err() != nil {
			p.stopped = n
			return Target{}, 0, na("the ADD of %d port mappings did not finish within %s (stopped)", n, limit)
		}
		return Target{}, 0, err
	}
	took := seconds(resp.Seconds)
	p.adds = append(p.adds, added{n, took})
	return targetAt(p.w.Ext, world.NodeIP, scalePort, 0), took, nil
}

// atLeast is a floor for an ADD of n mappings: the smallest ADD's time plus
// the cost per mapping seen between the smallest and the largest so far.
// A floor, as each rule portmap adds costs more the longer its chain is.
func (p *peerSide) atLeast(n int) (time.Duration, bool) {
	if len(p.adds) < 2 {
		return 0, false
	}
	first, last := p.span()
	if last.n <= first.n || n <= last.n {
		return 0, false
	}
	perMapping := float64(last.took-first.took) / float64(last.n-first.n)
	return last.took + time.Duration(perMapping*float64(n-last.n)), true
}

// span is the ADDs of the fewest and of the most mappings so far, the
// latest of each: later rounds ADD the small counts again.
func (p *peerSide) span() (first, last added) {
	first, last = p.adds[0], p.adds[0]
	for _, a := range p.adds[1:] {
		if a.n <= first.n {
			first = a
		}
		if a.n >= last.n {
			last = a
		}
	}
	return first, last
}

// Unpublish is the DEL of S, also after an ADD that was stopped.
func (p *peerSide) Unpublish(ctx context.Context) error {
	if p.scale == nil {
		return nil
	}
	_, err := p.call(ctx, "del", p.attach(p.s, p.scale, false))
	p.scale = nil
	return err
}

// Endpoints is one batch of n ADDs, each making its netns first as a
// runtime does, then one batch of n DELs removing them; the create and
// remove times are the batches' inside the harness's libcni process, and
// the same batches give the CNI rows their calls.
func (p *peerSide) Endpoints(ctx context.Context, n int) endpointTimes {
	var eps []cni.Attachment
	for i := range n {
		eps = append(eps, p.attach(p.w.Name("e"+strconv.Itoa(i)), nil, true))
	}
	add, addErr := p.call(ctx, "add", eps...)
	del, delErr := p.call(ctx, "del", eps...)
	if err := errors.Join(addErr, delErr); err != nil {
		return endpointTimes{err: err, cniErr: err}
	}
	return endpointTimes{
		create: seconds(add.Seconds), remove: seconds(del.Seconds),
		cni: cniCalls{add: durations(add.Calls), del: durations(del.Calls)},
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func durations(ss []float64) []time.Duration {
	out := make([]time.Duration, len(ss))
	for i, s := range ss {
		out[i] = seconds(s)
	}
	return out
}

func (p *peerSide) RSS(context.Context) (uint64, error) {
	return 0, na("no daemon: the plugins run once per call and exit")
}
