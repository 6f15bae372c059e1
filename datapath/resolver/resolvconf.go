package resolver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// Nameservers reads the nameserver lines of a resolv.conf, leaving out
// loopback ones: the endpoints' resolver forwards from the node, but a
// loopback server there is most often a local cache (systemd-resolved's
// 127.0.0.53) that forwards on its own. Docker skips them as well.
func Nameservers(resolvConf []byte) []netip.AddrPort {
	var out []netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(resolvConf))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil || a.IsLoopback() || a.Zone() != "" {
			continue
		}
		out = append(out, netip.AddrPortFrom(a.Unmap(), 53))
	}
	return out
}

// systemdResolvConf is where systemd-resolved lists the servers it
// forwards to, when the node's resolv.conf names only itself.
const systemdResolvConf = "/run/systemd/resolve/resolv.conf"

// NodeUpstreams is the node's resolvers: those of resolvConf, or, when
// it names only loopback ones, systemd-resolved's.
func NodeUpstreams(resolvConf string) ([]netip.AddrPort, error) {
	raw, err := os.ReadFile(resolvConf)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", resolvConf, err)
	}
	out := Nameservers(raw)
	if len(out) == 0 {
		if raw, err := os.ReadFile(systemdResolvConf); err == nil {
			out = Nameservers(raw)
		}
	}
	return out, nil
}

// Stub is the address endpoints are given as their nameserver, as
// Docker gives its containers: the socket programs send what goes there
// to the resolver on their network's gateway.
const Stub = "127.0.0.11"

// ResolvConf is an endpoint's resolv.conf: the stub, and its search
// domains and options. The first line marks it as the daemon's of a
// state dir, so that daemons side by side remove only their own. An
// endpoint with no bridge network cannot reach a resolver of the node's:
// direct lists the servers it asks itself instead of the stub.
func ResolvConf(owner string, c store.DNSConf, direct []string) []byte {
	var b bytes.Buffer
	b.WriteString(mark(owner))
	if len(direct) == 0 {
		b.WriteString("nameserver " + Stub + "\n")
	} else {
		b.WriteString("# no bridge network: the endpoint asks these servers itself\n")
	}
	for _, s := range direct {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(c.Search) > 0 {
		b.WriteString("search " + strings.Join(c.Search, " ") + "\n")
	}
	opts := c.Options
	if len(opts) == 0 {
		opts = []string{"ndots:0"} // Docker's default on its own networks
	}
	b.WriteString("options " + strings.Join(opts, " ") + "\n")
	return b.Bytes()
}

func mark(owner string) string {
	return "# written by the ebpfnet daemon of " + owner + ": the resolver is on the network's gateway, reached at " + Stub + "\n"
}

// EtcNetns is where `ip netns exec NAME` finds a namespace's files.
const EtcNetns = "/etc/netns"

// WriteResolvConf gives an endpoint ebpfnet made its
// /etc/netns/NAME/resolv.conf, unless the same is there already.
func WriteResolvConf(owner, endpoint string, c store.DNSConf, direct []string) error {
	dir := filepath.Join(EtcNetns, endpoint)
	path := filepath.Join(dir, "resolv.conf")
	want := ResolvConf(owner, c, direct)
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, want, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	return os.Rename(tmp, path)
}

// RemoveResolvConfs removes the resolv.conf files owner's daemon wrote
// for endpoints keep does not name, and their directories if left empty.
func RemoveResolvConfs(owner string, keep map[string]bool) error {
	dirs, err := os.ReadDir(EtcNetns)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		if keep[d.Name()] || !d.IsDir() {
			continue
		}
		errs = append(errs, RemoveResolvConf(owner, d.Name()))
	}
	return errors.Join(errs...)
}

// RemoveResolvConf removes an endpoint's resolv.conf if owner's daemon
// wrote it, and its directory if left empty.
func RemoveResolvConf(owner, endpoint string) error {
	path := filepath.Join(EtcNetns, endpoint, "resolv.conf")
	if raw, err := os.ReadFile(path); err != nil || !bytes.HasPrefix(raw, []byte(mark(owner))) {
		return nil
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	_ = os.Remove(filepath.Dir(path)) // only if empty
	return nil
}
