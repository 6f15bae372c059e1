package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/bench/report"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// dockerSide is Debian's dockerd (20.10) in its world, with containers A,
// B and S on a user-defined network of one driver: Docker's own bridge
// (its iptables rules and a docker-proxy per published port, as Docker
// users run it), or ebpfnet through its network driver. Each container's
// netns is attached under /run/netns by the world's name for it, so the
// load runs there as on the other sides.
type dockerSide struct {
	h      *harness
	name   string
	driver string
	w      *world.World
	d      *world.Docker
	a, b   string
	ip     map[string]netip.Addr
	srv    *exec.Cmd // S's load server
	sUp    bool
	// The docker run of S that was stopped, and the proxies' memory at
	// the largest count published: what a larger one cannot beat.
	stopped  int
	proxyMiB map[int]float64
}

func newDockerBridge(ctx context.Context, h *harness) (side, error) {
	return newDockerSide(ctx, h, report.Docker, "bridge")
}

func newEbpfnetDocker(ctx context.Context, h *harness) (side, error) {
	return newDockerSide(ctx, h, report.EbpfnetDocker, "ebpfnet")
}

func newDockerSide(ctx context.Context, h *harness, name, driver string) (side, error) {
	s := &dockerSide{h: h, name: name, driver: driver, ip: map[string]netip.Addr{}, proxyMiB: map[int]float64{}}
	var err error
	if s.w, err = h.newWorld(false); err != nil {
		return nil, err
	}
	err = world.Try(func() {
		s.d = s.w.NewDocker()
		if driver == "ebpfnet" {
			s.w.StartDaemon("--docker-plugin", "--docker-plugin-socket", s.d.PluginSocket())
		}
		s.d.Start()
	})
	if err != nil {
		return nil, err
	}
	if _, err := s.d.CLI("network", "create", "-d", driver, "--subnet", subnet, "bench"); err != nil {
		return nil, err
	}
	s.a, s.b = s.w.Name("a"), s.w.Name("b")
	if _, err := s.run(ctx, s.a); err != nil {
		return nil, err
	}
	if _, err := s.run(ctx, s.b, "-p", fmt.Sprintf("%d:%d", hostStream, streamPort),
		"-p", fmt.Sprintf("%d:%d", hostLoad, loadPort), "-p", fmt.Sprintf("%d:%d/udp", hostLoad, loadPort)); err != nil {
		return nil, err
	}
	for _, sv := range []struct {
		ns     string
		stream bool
	}{{s.b, true}, {s.w.Ext, true}} {
		if err := h.serve(sv.ns, sv.stream); err != nil {
			return nil, err
		}
	}
	return s, h.tune(s.a, s.w.Ext, s.w.Node)
}

func (s *dockerSide) Name() string { return s.name }

// run starts a busybox container on the network, named as its netns is,
// with publish's -p flags, attaches its netns and says how long docker
// run took.
func (s *dockerSide) run(ctx context.Context, name string, publish ...string) (time.Duration, error) {
	args := append([]string{"run", "-d", "--name", name, "--network", "bench"}, publish...)
	start := time.Now()
	if out, err := s.docker(ctx, append(args, s.d.Image, "sleep", "1000000")...); err != nil {
		return 0, fmt.Errorf("docker run %s: %w: %s", name, err, lastLine(out))
	}
	took := time.Since(start)
	pid, err := s.docker(ctx, "inspect", "-f", "{{.State.Pid}}", name)
	if err != nil {
		return 0, err
	}
	ip, err := s.docker(ctx, "inspect", "-f", "{{.NetworkSettings.Networks.bench.IPAddress}}", name)
	if err != nil {
		return 0, err
	}
	if s.ip[name], err = netip.ParseAddr(ip); err != nil {
		return 0, fmt.Errorf("address of %s: %q", name, ip)
	}
	if out, err := exec.Command("ip", "netns", "attach", name, pid).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("ip netns attach %s %s: %w: %s", name, pid, err, out)
	}
	return took, nil
}

// docker runs the client against the side's dockerd, bounded by ctx.
func (s *dockerSide) docker(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "/usr/bin/docker", append([]string{"-H", "unix://" + s.d.Socket}, args...)...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// cannot: on Docker's bridge, a UDP hairpin through the node's address
// gets no answer. docker-proxy, bound to 0.0.0.0, answers from the
// bridge's address, which the client's connected socket drops (seen on
// Docker 20.10: the request reaches the server, the answer never the
// client).
func (s *dockerSide) cannot(path string, wl Workload) error {
	if s.driver == "bridge" && path == "hairpin" && wl == UDPRR {
		return na("Docker fails it: docker-proxy answers a UDP hairpin from the bridge's address, not the node's")
	}
	return nil
}

func (s *dockerSide) Target(path string) (Target, error) {
	return worldTarget(s.w, s.a, s.ip[s.b], path)
}

// maxProxies is the most ports published on Docker's bridge: one
// docker-proxy each, some MiB apiece.
const maxProxies = 1000

// Publish is one docker run of S with n ports: the fillers as one host
// range onto the same container ports, as `-p 20000-20998:20000-20998`,
// and the measured port last.
func (s *dockerSide) Publish(ctx context.Context, n int) (Target, time.Duration, error) {
	limit := s.h.opts.PublishTimeout
	switch {
	case s.stopped > 0 && n > s.stopped:
		return Target{}, 0, na("not tried: docker run with %d ports was already stopped after %s", s.stopped, limit)
	case s.driver == "bridge" && n > maxProxies:
		return Target{}, 0, na("not tried: a docker-proxy per port; %d ports took %.0f MiB of them", maxProxies, s.proxyMiB[maxProxies])
	}
	var args []string
	if n > 1 {
		last := fillerBase + n - 2
		args = append(args, "-p", fmt.Sprintf("%d-%d:%d-%d", fillerBase, last, fillerBase, last))
	}
	args = append(args, "-p", fmt.Sprintf("%d:%d", scalePort, loadPort))
	tctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	s.sUp = true
	took, err := s.run(tctx, s.w.Name("s"), args...)
	if err != nil {
		if ctx.Err() == nil && tctx.Err() != nil {
			s.stopped = n
			return Target{}, 0, na("docker run with %d ports did not finish within %s (stopped)", n, limit)
		}
		return Target{}, 0, err
	}
	if s.srv, err = s.h.serveAlone(s.w.Name("s")); err != nil {
		return Target{}, took, err
	}
	tgt := targetAt(s.w.Ext, world.NodeIP, scalePort, 0)
	if err := s.h.probe(ctx, tgt); err != nil {
		return Target{}, took, fmt.Errorf("unreachable: %s", message(err))
	}
	if s.driver == "bridge" {
		rss, _ := s.RSS(ctx)
		s.proxyMiB[n] = float64(rss) / (1 << 20)
	}
	return tgt, took, nil
}

// Unpublish removes S: its load server first, which holds its netns.
func (s *dockerSide) Unpublish(ctx context.Context) error {
	if !s.sUp {
		return nil
	}
	s.sUp = false
	if s.srv != nil {
		_ = s.srv.Process.Kill()
		_ = s.srv.Wait()
		s.srv = nil
	}
	name := s.w.Name("s")
	_ = exec.Command("ip", "netns", "del", name).Run()
	if out, err := s.docker(ctx, "rm", "-f", name); err != nil && !strings.Contains(out, "No such container") {
		return fmt.Errorf("docker rm -f %s: %w: %s", name, err, out)
	}
	return nil
}

func (s *dockerSide) Endpoints(context.Context, int) endpointTimes {
	err := na("not measured: containers, not endpoints; see docker run in the scale rows")
	return endpointTimes{err: err, cniErr: err}
}

// RSS is ebpfnet's daemon's, or all docker-proxy processes' together:
// what publishing costs in memory on each.
func (s *dockerSide) RSS(ctx context.Context) (uint64, error) {
	if s.driver == "ebpfnet" {
		return daemonRSS(ctx, s.w)
	}
	var sum uint64
	var errs []error
	for _, pid := range s.d.Processes("docker-proxy") {
		rss, err := world.VmRSS(pid)
		sum += rss
		errs = append(errs, err)
	}
	return sum, errors.Join(errs...)
}

// serveAlone starts the load server in a namespace and returns it, for
// the caller to stop.
func (h *harness) serveAlone(netns string) (*exec.Cmd, error) {
	cmd := nsCmd(context.Background(), netns, h.self, "load-server", "-addr", ":"+strconv.Itoa(loadPort),
		"-size", strconv.Itoa(h.opts.Size))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the load server in %s: %w", netns, err)
	}
	h.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, nil
}
