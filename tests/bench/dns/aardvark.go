package dns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// aardvark-dns 1.4.0 (src/config/mod.rs, src/dns/coredns.rs of v1.4.0):
//
//   - `aardvark-dns --config DIR --port PORT run` forks, the child writes
//     DIR/aardvark.pid and serves, the parent exits once it is ready.
//   - DIR holds a file per network, named after it. Its first line is
//     "IP[,IP...]" the addresses to listen on (the bridge's gateway), then
//     optionally a space and "DNS[,DNS...]", the network's upstreams.
//     Every other line is a container: "ID IPV4S IPV6S NAME,ALIAS..." with
//     optionally " DNS[,DNS...]", single spaces, empty lists allowed.
//   - It serves UDP only, on each listen address and PORT, to anyone;
//     names are looked up in the networks of the source address (a
//     container's), or, for a source that is none, in the listening
//     network's names.
//   - A name it does not know is forwarded over UDP to port 53 of the
//     container's upstreams, else the network's, else the nameservers of
//     /etc/resolv.conf as it read it at start, one after another, a new
//     socket per query, no cache; except a name with a single label, or
//     ending in the search domain (.dns.podman), which gets NXDOMAIN.
//
// This side gives the network its upstream on the first line, as Podman
// does for `podman network create --dns`, so /etc/resolv.conf is not
// involved.

// aardvarkBridge is the node's bridge, the gateway on it.
const aardvarkBridge = "dnsbr0"

// setupAardvark builds a world without ebpfnet: in the node, a bridge with
// the gateway address and aardvark-dns on it; a client namespace on the
// bridge with the first container's address; the upstream in ext.
func setupAardvark(ctx context.Context, t *world.RunT, o Options, s *sideRun) error {
	if _, err := os.Stat(o.AardvarkBin); err != nil {
		return notAvailable{fmt.Sprintf("no aardvark-dns: %v (Debian's aardvark-dns)", err)}
	}
	s.res.Version = aardvarkVersion(o.AardvarkBin)
	if err := world.Try(func() { s.w = world.New(t, "") }); err != nil {
		return err
	}
	w := s.w
	var up *world.Upstream
	if err := world.Try(func() { up = world.StartUpstream(t, w.Ext, UpstreamAddr, FwdZone, FwdAnswer) }); err != nil {
		return err
	}
	up.SetTTL(o.UpstreamTTL)
	s.hosts = makeHosts(w.ID, o)
	ip := Gateway
	for i := range s.hosts {
		if ip = ip.Next(); !Subnet.Contains(ip.Next()) { // nor the broadcast address
			return fmt.Errorf("%d endpoints do not fit %s", o.Endpoints, Subnet)
		}
		s.hosts[i].ip = ip
	}
	s.client, s.server = w.Name("client"), netip.AddrPortFrom(Gateway, 53)
	gw := netip.PrefixFrom(Gateway, Subnet.Bits()).String()
	cl := netip.PrefixFrom(s.hosts[0].ip, Subnet.Bits()).String()
	for _, step := range [][]string{
		{"-n", w.Node, "link", "add", aardvarkBridge, "type", "bridge"},
		{"-n", w.Node, "addr", "add", gw, "dev", aardvarkBridge},
		{"-n", w.Node, "link", "set", aardvarkBridge, "up"},
		{"netns", "add", s.client},
		{"-n", w.Node, "link", "add", "vclient", "type", "veth", "peer", "name", "eth0", "netns", s.client},
		{"-n", w.Node, "link", "set", "vclient", "master", aardvarkBridge, "up"},
		{"-n", s.client, "addr", "add", cl, "dev", "eth0"},
		{"-n", s.client, "link", "set", "eth0", "up"},
		{"-n", s.client, "link", "set", "lo", "up"},
		{"-n", s.client, "route", "add", "default", "via", Gateway.String()},
	} {
		if out, err := exec.Command("ip", step...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(step, " "), err, out)
		}
	}
	start := time.Now()
	dir := filepath.Join(w.Dir, "aardvark")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, networkName), []byte(aardvarkConfig(s.hosts)), 0o644); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+w.Node, "--",
		o.AardvarkBin, "--config", dir, "--port", "53", "run").CombinedOutput()
	if err != nil {
		return fmt.Errorf("aardvark-dns run: %w: %s", err, strings.TrimSpace(string(out)))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "aardvark.pid"))
	if err != nil {
		return fmt.Errorf("aardvark-dns run: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("aardvark-dns pid file: %w", err)
	}
	t.Cleanup(func() {
		if err := stopPid(pid, "aardvark-dns"); err != nil {
			t.Fatalf("%v", err)
		}
	})
	s.pid = func(context.Context) (int, error) {
		if !isProc(pid, "aardvark-dns") {
			return 0, fmt.Errorf("aardvark-dns (pid %d) is gone", pid)
		}
		return pid, nil
	}
	// It binds after writing its pid: prepare waits for its first answer.
	s.res.Setup = time.Since(start)
	return nil
}

// aardvarkConfig is the network's config file: the gateway and upstream,
// then a line per container, its ID a hash of its name like Podman's.
func aardvarkConfig(hosts []host) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", Gateway, UpstreamAddr.Addr())
	for _, h := range hosts {
		id := sha256.Sum256([]byte(h.name))
		names := append([]string{h.name}, h.aliases...)
		fmt.Fprintf(&b, "%s %s  %s\n", hex.EncodeToString(id[:]), h.ip, strings.Join(names, ","))
	}
	return b.String()
}

func aardvarkVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	var v struct{ Version string }
	if err != nil || json.Unmarshal(out, &v) != nil || v.Version == "" {
		return "aardvark-dns (version unknown)"
	}
	return "aardvark-dns " + v.Version
}

// isProc says whether pid is a live process (not a zombie) named comm.
func isProc(pid int, comm string) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...
	open, close := strings.IndexByte(string(raw), '('), strings.LastIndexByte(string(raw), ')')
	if open < 0 || close < open {
		return false
	}
	state := strings.Fields(string(raw[close+1:]))
	return string(raw[open+1:close]) == comm && len(state) > 0 && state[0] != "Z"
}

// stopPid ends a process that is not our child (aardvark-dns forks away
// from its parent), checking its name first so a reused pid is left alone.
func stopPid(pid int, comm string) error {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if !isProc(pid, comm) {
			return nil
		}
		_ = syscall.Kill(pid, sig)
		if world.Wait(3*time.Second, func() bool { return !isProc(pid, comm) }) {
			return nil
		}
	}
	return fmt.Errorf("%s (pid %d) did not stop", comm, pid)
}
