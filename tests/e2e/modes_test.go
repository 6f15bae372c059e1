package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// noStub checks an endpoint's resolv.conf names servers it can ask itself,
// not 127.0.0.11, whose resolver it cannot reach without a bridge network.
func noStub(t *testing.T, ep string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("/etc/netns", ep, "resolv.conf"))
	if err != nil || strings.Contains(string(raw), "nameserver 127.0.0.11") || !strings.Contains(string(raw), "\nnameserver ") {
		t.Fatalf("resolv.conf of %s: %v\n%s", ep, err, raw)
	}
}

// Issue 17: docker run's --network none, host and container:NAME, with
// Docker's refusals, through a restart, a forced removal and a reset.
func TestNetworkModes(t *testing.T) {
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.30.0.0/24")
	api, batch, agent, side, side2 := w.Name("api"), w.Name("batch"), w.Name("agent"), w.Name("side"), w.Name("side2")
	w.MustCLI("endpoint", "create", api, "--network", "web", "-p", "8080:80")
	w.MustCLI("endpoint", "create", batch, "--network", "none")
	w.MustCLI("endpoint", "create", agent, "--network", "host")
	w.MustCLI("endpoint", "create", side, "--network", "container:"+api)
	w.MustCLI("endpoint", "create", side2, "--network", "container:"+side)

	checkNone := func(t *testing.T) {
		t.Helper()
		ls := links(t, w, batch)
		if len(ls) != 1 || !strings.Contains(ls["lo"].Flags, "up") {
			t.Fatalf("a none endpoint's namespace has %v; want only lo, up", ls)
		}
		if e := inspectEndpoint(t, w, batch); e.Mode != "none" || len(e.Interfaces) != 0 {
			t.Fatalf("batch: %+v", e)
		}
		noStub(t, batch)
	}
	checkShared := func(t *testing.T) {
		t.Helper()
		owner := inspectEndpoint(t, w, api)
		for _, name := range []string{side, side2} {
			e := inspectEndpoint(t, w, name)
			if e.Mode != "container:"+api || e.Netns != owner.Netns || !equalJSON(e.Interfaces, owner.Interfaces) ||
				!equalJSON(e.Ports, owner.Ports) {
				t.Fatalf("%s: %+v\nwant api's namespace, interfaces and ports: %+v", name, e, owner)
			}
		}
		if !equalJSON(owner.Sharers, []string{side, side2}) {
			t.Fatalf("api's sharers: %v", owner.Sharers)
		}
	}
	t.Run("none has only loopback", checkNone)
	t.Run("host has no namespace of its own", func(t *testing.T) {
		if e := inspectEndpoint(t, w, agent); e.Mode != "host" || e.Netns != "" || len(e.Interfaces) != 0 {
			t.Fatalf("agent: %+v", e)
		}
	})
	t.Run("container:NAME is the owner's namespace, addresses and ports", func(t *testing.T) {
		checkShared(t)
		// A server started in the sharer's namespace is the owner's port 80.
		srv := listen(t, w, strings.TrimPrefix(inspectEndpoint(t, w, side).Netns, "/run/netns/"), "80")
		if err := send(w, w.Ext, world.NodeIP.String(), "8080", "to the sidecar"); err != nil {
			t.Fatal(err)
		}
		if got := srv.received(t); got != "to the sidecar" {
			t.Fatalf("the sidecar's server got %q", got)
		}
	})
	t.Run("Docker's refusals", func(t *testing.T) {
		for _, c := range []struct {
			want string
			args []string
		}{
			{"private (none) mode", []string{"network", "connect", "web", batch}},
			{"connected to host network", []string{"network", "connect", "web", agent}},
			{"sharing network namespace", []string{"network", "connect", "web", side}},
			{"sharing network namespace", []string{"network", "disconnect", "web", side}},
			{"private (none) mode", []string{"network", "connect", "none", api}},
			{"nothing can be published", []string{"publish", batch, "9090:80"}},
			{"published ports are discarded when using host network mode", []string{"publish", agent, "9090:80"}},
			{"port publishing and the container type network mode", []string{"publish", side, "9090:80"}},
			{"published ports are discarded", []string{"endpoint", "create", w.Name("x"), "--network", "host", "-p", "9090:80"}},
			{"user specified IP address", []string{"endpoint", "create", w.Name("x"), "--network", "none", "--ip", "10.30.0.9"}},
			{"network-scoped alias", []string{"endpoint", "create", w.Name("x"), "--network", "host", "--alias", "y"}},
			{"mac-address and the network mode", []string{"endpoint", "create", w.Name("x"), "--network", "container:" + api, "--mac", "02:00:00:00:00:01"}},
			{"dns and the network mode", []string{"endpoint", "create", w.Name("x"), "--network", "host", "--dns", "192.0.2.53"}},
			{"non-user-defined network-modes", []string{"endpoint", "create", w.Name("x"), "--network", "web", "--network", "none"}},
			{"takes no --netns", []string{"endpoint", "create", w.Name("x"), "--network", "none", "--netns", "/run/netns/" + w.Ext}},
			{"not found", []string{"endpoint", "create", w.Name("x"), "--network", "container:nosuch"}},
			{"no namespace of its own to attach", []string{"endpoint", "attach", agent}},
		} {
			mustFailCLI(t, w, c.want, c.args...)
		}
	})
	t.Run("every mode survives a restart", func(t *testing.T) {
		w.StopDaemon()
		w.StartDaemon()
		checkNone(t)
		checkShared(t)
		if e := inspectEndpoint(t, w, agent); e.Mode != "host" {
			t.Fatalf("agent after a restart: %+v", e)
		}
	})
	t.Run("an owner with sharers is removed only by force, with them", func(t *testing.T) {
		mustFailCLI(t, w, "shares its namespace with "+side+", "+side2, "endpoint", "rm", api)
		out := w.MustCLI("endpoint", "rm", "-f", api)
		for _, name := range []string{side, side2} {
			if !strings.Contains(out, name+" (it shared "+api+"'s namespace") {
				t.Errorf("rm -f does not say what became of %s:\n%s", name, out)
			}
			mustFailCLI(t, w, "not found", "endpoint", "inspect", name)
		}
	})
	t.Run("reset removes the none endpoint's namespace", func(t *testing.T) {
		w.MustCLI("system", "reset")
		if ls, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(ls), batch) {
			t.Fatalf("after a reset: %s", ls)
		}
	})
}
