package dns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// setupEbpfnet starts the daemon in a world of its own with the upstream
// as its --dns, makes the network and its endpoints, each with its
// aliases, through the CLI as a user would; the first endpoint is the
// client. The daemon serves on the network's gateway address.
func setupEbpfnet(ctx context.Context, t *world.RunT, o Options, s *sideRun) error {
	bin := o.Bin
	if err := world.Try(func() { s.w = world.New(t, bin) }); err != nil {
		return err
	}
	w := s.w
	if out, err := w.Exec(w.Node, bin, "--version"); err == nil {
		s.res.Version = strings.TrimSpace(out)
	}
	var up *world.Upstream
	if err := world.Try(func() { up = world.StartUpstream(t, w.Ext, UpstreamAddr, FwdZone, FwdAnswer) }); err != nil {
		return err
	}
	up.SetTTL(o.UpstreamTTL)
	if _, err := cli(w, append(w.StartArgs(), "--dns", UpstreamAddr.String())...); err != nil {
		// The teardown's offline reset wants a state dir.
		_ = os.MkdirAll(filepath.Join(w.Dir, "state"), 0o700)
		return err
	}
	s.pid = func(ctx context.Context) (int, error) {
		c := api.NewClient(w.Socket)
		defer c.Close()
		st, err := c.Status(ctx)
		if err != nil {
			return 0, err
		}
		return st.PID, nil
	}
	if _, err := cli(w, "network", "create", networkName, "--subnet", Subnet.String(), "--gateway", Gateway.String()); err != nil {
		return err
	}
	var err error
	if s.res.RSSBase, err = s.rss(ctx); err != nil {
		return err
	}
	s.hosts = makeHosts(w.ID, o)
	s.client = s.hosts[0].name
	if s.server, err = resolverAddr(w); err != nil {
		return err
	}
	start := time.Now()
	for i, h := range s.hosts {
		args := []string{"endpoint", "create", h.name, "--network", networkName}
		for _, a := range h.aliases {
			args = append(args, "--alias", a)
		}
		if _, err := cli(w, args...); err != nil {
			return err
		}
		if (i+1)%100 == 0 {
			fmt.Fprintf(o.Log, "%s: %d endpoints in %s\n", Ebpfnet, i+1, time.Since(start).Round(time.Millisecond))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	s.res.Setup = time.Since(start)
	for _, i := range []int{0, len(s.hosts) - 1} {
		if s.hosts[i].ip, err = endpointIP(w, s.hosts[i].name); err != nil {
			return err
		}
	}
	return nil
}

// cli runs ebpfnet against the world's daemon; a flag or command this
// build does not know is a notAvailable error.
func cli(w *world.World, args ...string) (string, error) {
	out, err := w.CLI(args...)
	if err != nil {
		msg := err.Error()
		for _, unknown := range []string{"flag provided but not defined", "unknown command", "No help topic for", "is not supported"} {
			if strings.Contains(msg, unknown) {
				return out, notAvailable{fmt.Sprintf("not in this build: ebpfnet %s: %s", args[0], lastLine(out))}
			}
		}
		return out, fmt.Errorf("ebpfnet %s: %s", args[0], lastLine(out))
	}
	return out, nil
}

func endpointIP(w *world.World, name string) (netip.Addr, error) {
	out, err := cli(w, "endpoint", "inspect", name)
	if err != nil {
		return netip.Addr{}, err
	}
	var eps []api.Endpoint
	if err := json.Unmarshal([]byte(out), &eps); err != nil || len(eps) != 1 || len(eps[0].Interfaces) == 0 {
		return netip.Addr{}, errors.Join(err, fmt.Errorf("endpoint inspect %s: no interface in %q", name, out))
	}
	return netip.ParseAddr(eps[0].Interfaces[0].IP)
}

// resolverAddr is where the daemon serves the bench network's names, as
// `ebpfnet dns stats` says.
func resolverAddr(w *world.World) (netip.AddrPort, error) {
	out, err := cli(w, "dns", "stats", "--json")
	if err != nil {
		return netip.AddrPort{}, err
	}
	var st api.DNSStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return netip.AddrPort{}, fmt.Errorf("dns stats: %w", err)
	}
	return netip.ParseAddrPort(st.Listening[networkName])
}
