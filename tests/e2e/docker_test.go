package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/dockerdrv"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// dockerWorld is a daemon serving the Docker driver, and Debian's dockerd
// (with its own iptables rules for docker0, as a user's has) finding it
// as driver "ebpfnet".
func dockerWorld(t *testing.T, dockerdArgs ...string) (*world.World, *world.Docker) {
	t.Helper()
	w := world.New(t, bin)
	d := w.NewDocker()
	w.StartDaemon("--docker-plugin", "--docker-plugin-socket", d.PluginSocket())
	d.Start(dockerdArgs...)
	return w, d
}

// httpdCmd serves page on port 80 of a busybox container.
func httpdCmd(page string) []string {
	return []string{"sh", "-c", "echo " + page + " > /www/index.html && exec httpd -f -p 80 -h /www"}
}

// httpGet fetches / of addr with nc from inside a container: the
// image's static busybox wget crashes under Docker.
func httpGet(d *world.Docker, container, addr string) (string, error) {
	host, port, _ := strings.Cut(addr, ":")
	if port == "" {
		port = "80"
	}
	return d.CLI("exec", container, "sh", "-c",
		fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 nc %s %s`, host, port))
}

func mustGetPage(t *testing.T, w *world.World, netns, url, page string) {
	t.Helper()
	if out, err := wget(w, netns, url); err != nil || !strings.Contains(out, page) {
		t.Errorf("GET %s from %s: %v %q, want %q", url, netns, err, out, page)
	}
}

// dockerEndpoint is the ebpfnet endpoint of a container on a network.
func dockerEndpoint(t *testing.T, w *world.World, d *world.Docker, container, network string) api.Endpoint {
	t.Helper()
	id := d.Must("inspect", "-f", "{{(index .NetworkSettings.Networks \""+network+"\").EndpointID}}", container)
	return inspectEndpoint(t, w, dockerdrv.Name(id))
}

// Docker runs containers on an ebpfnet network: Docker's IPAM address
// and MAC, published ports from outside, the node (127.0.0.1 with no
// proxy) and a container (hairpin), masquerade out, container to
// container, Docker's DNS with aliases, network connect and disconnect,
// no firewall rule for the network and no docker-proxy, and rm and
// network rm leave nothing.
func TestDockerDriver(t *testing.T) {
	t.Parallel()
	w, d := dockerWorld(t)
	netID := d.Must("network", "create", "-d", "ebpfnet", "--subnet", "10.20.0.0/24", "web")
	n := inspectNetwork(t, w, dockerdrv.Name(netID))
	if n.Subnet != "10.20.0.0/24" || n.Gateway != "10.20.0.1" || n.DockerID != netID {
		t.Fatalf("network as ebpfnet sees it: %+v", n)
	}
	d.Must(append([]string{"run", "-d", "--name", "api", "--network", "web", "--network-alias", "svc",
		"-p", "8080:80", "-p", "9000-9010:90/udp", d.Image}, httpdCmd("hello-docker")...)...)
	d.Must("run", "-d", "--name", "cli", "--network", "web", d.Image, "sleep", "600")
	apiIP := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.web.IPAddress}}", "api")
	t.Run("ebpfnet sees the container", func(t *testing.T) {
		ep := dockerEndpoint(t, w, d, "api", "web")
		mac := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.web.MacAddress}}", "api")
		if ep.Interfaces[0].IP != apiIP || ep.Interfaces[0].MAC != mac || !ep.Handoff || ep.State != "ready" {
			t.Errorf("endpoint %+v, want Docker's %s %s", ep, apiIP, mac)
		}
		ports := map[string]bool{}
		for _, p := range ep.Ports {
			ports[fmt.Sprintf("%s:%d->%d", p.Proto, p.HostPort, p.ContainerPort)] = true
		}
		udp := false
		for hp := 9000; hp <= 9010; hp++ {
			udp = udp || ports[fmt.Sprintf("udp:%d->90", hp)]
		}
		if len(ep.Ports) != 2 || !ports["tcp:8080->80"] || !udp {
			t.Errorf("publications %+v, want 8080->80/tcp and one of 9000-9010->90/udp", ep.Ports)
		}
		inside, err := d.InContainer("api", "ip", "-4", "-o", "addr", "show", "eth0")
		if err != nil || !strings.Contains(inside, apiIP+"/24") {
			t.Errorf("eth0 in the container: %v %q", err, inside)
		}
	})
	t.Run("published", func(t *testing.T) {
		mustGetPage(t, w, w.Ext, "http://"+world.NodeIP.String()+":8080/", "hello-docker")
		mustGetPage(t, w, w.Node, "http://127.0.0.1:8080/", "hello-docker")
		if out, err := httpGet(d, "cli", world.NodeIP.String()+":8080"); err != nil || !strings.Contains(out, "hello-docker") {
			t.Errorf("hairpin through the node's address: %v %q", err, out)
		}
	})
	t.Run("container to container, by name", func(t *testing.T) {
		cli := dockerEndpoint(t, w, d, "cli", "web").Name
		grows(t, w, cli, "forward-peer", func() {
			if out, err := httpGet(d, "cli", apiIP); err != nil || !strings.Contains(out, "hello-docker") {
				t.Errorf("%v %q", err, out)
			}
		})
		for _, name := range []string{"api", "svc"} {
			out, err := d.CLI("exec", "cli", "busybox", "nslookup", name, "127.0.0.11")
			if err != nil || !strings.Contains(out, apiIP) {
				t.Errorf("Docker's DNS for %s: %v %q, want %s", name, err, out, apiIP)
			}
		}
	})
	t.Run("masquerade out", func(t *testing.T) {
		serve(t, w, w.Ext, "tcp", ":7000", "ext")
		out, err := d.CLI("exec", "cli", "sh", "-c", "echo hi | timeout 5 nc "+world.ExtIP.String()+" 7000")
		if err != nil || !strings.HasPrefix(out, "ext "+world.NodeIP.String()+":") {
			t.Errorf("%v %q, want ext to see the node's address", err, out)
		}
	})
	t.Run("no rules and no proxy", func(t *testing.T) {
		for _, argv := range [][]string{{"iptables-save"}, {"nft", "list", "ruleset"}} {
			out, err := w.Exec(w.Node, argv...)
			if err != nil || strings.Contains(out, "10.20.0.") || strings.Contains(out, n.Bridge) || strings.Contains(out, "8080") {
				t.Errorf("%s names the ebpfnet network: %v\n%s", argv[0], err, out)
			}
		}
		if procs := d.Processes("docker-proxy"); len(procs) > 0 {
			t.Errorf("docker-proxy runs: %v", procs)
		}
	})
	t.Run("network connect and disconnect", func(t *testing.T) {
		d.Must("network", "create", "-d", "ebpfnet", "--subnet", "10.21.0.0/24", "other")
		d.Must("network", "connect", "other", "api")
		ep := dockerEndpoint(t, w, d, "api", "other")
		ip := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.other.IPAddress}}", "api")
		if ep.Interfaces[0].IP != ip {
			t.Errorf("endpoint on other: %+v, want %s", ep, ip)
		}
		if out, err := d.InContainer("api", "ip", "-4", "-o", "addr"); err != nil || !strings.Contains(out, ip+"/24") {
			t.Errorf("after connect: %v %q", err, out)
		}
		// Docker publishes on the endpoint that gives the container its
		// way out, and may move the ports to the new one.
		web := dockerEndpoint(t, w, d, "api", "web")
		if len(ep.Ports)+len(web.Ports) != 2 {
			t.Errorf("publications on web %+v and other %+v, want 2 in all", web.Ports, ep.Ports)
		}
		mustGetPage(t, w, w.Ext, "http://"+world.NodeIP.String()+":8080/", "hello-docker")
		d.Must("network", "disconnect", "other", "api")
		if _, err := w.CLI("endpoint", "inspect", ep.Name); err == nil {
			t.Errorf("endpoint %s is left after disconnect", ep.Name)
		}
		if web = dockerEndpoint(t, w, d, "api", "web"); len(web.Ports) != 2 {
			t.Errorf("publications back on web: %+v", web.Ports)
		}
		mustGetPage(t, w, w.Ext, "http://"+world.NodeIP.String()+":8080/", "hello-docker")
		d.Must("network", "rm", "other")
	})
	t.Run("ebpfnet leaves Docker's objects to Docker", func(t *testing.T) {
		ep := dockerEndpoint(t, w, d, "api", "web")
		mustFailCLI(t, w, "remove it with docker network rm", "network", "rm", n.Name)
		mustFailCLI(t, w, "remove it with docker rm", "endpoint", "rm", ep.Name)
		d.Must("network", "create", "-d", "ebpfnet", "--subnet", "10.27.0.0/24", "idle")
		w.MustCLI("network", "prune", "-f")
		d.Must("run", "--rm", "--network", "idle", d.Image, "echo", "still there")
		d.Must("network", "rm", "idle")
	})
	t.Run("rm leaves nothing", func(t *testing.T) {
		d.Must("rm", "-f", "api", "cli")
		leftInEbpfnet(t, w)
		d.Must("network", "rm", "web")
		for _, nw := range cliJSON[[]api.Network](t, w, "network", "ls", "--json") {
			if nw.DockerID != "" {
				t.Errorf("network %s is left", nw.Name)
			}
		}
		if names := linkNames(t, w, w.Node); strings.Contains(names, n.Bridge) || strings.Contains(names, "enetv") {
			t.Errorf("devices left in the node: %s", names)
		}
	})
}

// Docker's options reach the network: --internal (no way out, no
// gateway route), --ip-range, mtu, icc and the bridge's name; IPv6 and
// an option ebpfnet does not know are refused with a reason.
func TestDockerNetworkOptions(t *testing.T) {
	t.Parallel()
	w, d := dockerWorld(t)
	id := d.Must("network", "create", "-d", "ebpfnet", "--internal", "--subnet", "10.22.0.0/24",
		"--ip-range", "10.22.0.128/25", "-o", "com.docker.network.driver.mtu=1400",
		"-o", "com.docker.network.bridge.enable_icc=false", "-o", "com.docker.network.bridge.name=br-"+w.ID, "int")
	n := inspectNetwork(t, w, dockerdrv.Name(id))
	if !n.Internal || n.Masquerade || n.ICC || n.MTU != 1400 || n.Bridge != "br-"+w.ID {
		t.Errorf("network %+v", n)
	}
	d.Must("run", "-d", "--name", "box", "--network", "int", d.Image, "sleep", "600")
	ip := d.Must("inspect", "-f", "{{.NetworkSettings.Networks.int.IPAddress}}", "box")
	if !strings.HasPrefix(ip, "10.22.0.") || ip < "10.22.0.128" {
		t.Errorf("address %s, want one of 10.22.0.128/25", ip)
	}
	if routes, err := d.InContainer("box", "ip", "route"); err != nil || strings.Contains(routes, "default") {
		t.Errorf("routes in an internal network's container: %v %q", err, routes)
	}
	if mtu, err := d.InContainer("box", "cat", "/sys/class/net/eth0/mtu"); err != nil || strings.TrimSpace(mtu) != "1400" {
		t.Errorf("mtu: %v %q", err, mtu)
	}
	for _, bad := range []struct{ args, want string }{
		{"--ipv6 --subnet 10.23.0.0/24 --subnet fd00:1::/64", "IPv6 is not supported"},
		{"--subnet 10.24.0.0/24 -o color=blue", `unknown network option "color"`},
	} {
		args := append([]string{"network", "create", "-d", "ebpfnet"}, strings.Fields(bad.args)...)
		if out, err := d.CLI(append(args, "bad")...); err == nil || !strings.Contains(out, bad.want) {
			t.Errorf("docker network create %s: %v %q, want %q", bad.args, err, out, bad.want)
		}
	}
	d.Must("rm", "-f", "box")
	d.Must("network", "rm", "int")
	t.Run("-p with a host address and a free port", func(t *testing.T) {
		d.Must("network", "create", "-d", "ebpfnet", "--subnet", "10.26.0.0/24", "pub")
		d.Must(append([]string{"run", "-d", "--name", "pub", "--network", "pub", "-p", "127.0.0.1:9090:80", "-p", "80", d.Image},
			httpdCmd("hello-p")...)...)
		ep := dockerEndpoint(t, w, d, "pub", "pub")
		var local, free bool
		for _, p := range ep.Ports {
			local = local || (p.HostIP == "127.0.0.1" && p.HostPort == 9090 && p.ContainerPort == 80)
			free = free || (p.HostIP == "0.0.0.0" && p.HostPort != 0 && p.HostPort != 9090 && p.ContainerPort == 80)
		}
		if !local || !free || len(ep.Ports) != 2 {
			t.Fatalf("publications %+v, want 127.0.0.1:9090->80 and a free port ->80", ep.Ports)
		}
		mustGetPage(t, w, w.Node, "http://127.0.0.1:9090/", "hello-p")
		for _, p := range ep.Ports {
			if p.HostPort != 9090 {
				mustGetPage(t, w, w.Ext, fmt.Sprintf("http://%s:%d/", world.NodeIP, p.HostPort), "hello-p")
			}
		}
		d.Must("rm", "-f", "pub")
		d.Must("network", "rm", "pub")
	})
	if nets := cliJSON[[]api.Network](t, w, "network", "ls", "--json"); len(nets) != 1 {
		t.Errorf("networks left: %+v", nets)
	}
}

// dockerRunning lists the running containers' names.
func dockerRunning(d *world.Docker) string {
	out, _ := d.CLI("ps", "--format", "{{.Names}}")
	return strings.Join(strings.Fields(out), ",")
}

// writeDaemonJSON sets dockerd's config before it starts.
func writeDaemonJSON(t *testing.T, d *world.Docker, js string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(d.ConfigDir(), "daemon.json"), []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
}

// dockerAgrees fails unless, within a few seconds, ebpfnet's Docker
// endpoints are exactly the running containers' endpoints, each ready.
func dockerAgrees(t *testing.T, w *world.World, d *world.Docker) {
	t.Helper()
	var want, have []string
	ok := world.Wait(15*time.Second, func() bool {
		want, have = nil, nil
		ids, _ := d.CLI("ps", "-q")
		for _, id := range strings.Fields(ids) {
			eps, _ := d.CLI("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.EndpointID}} {{end}}", id)
			for _, ep := range strings.Fields(eps) {
				want = append(want, dockerdrv.Name(ep)+"/ready")
			}
		}
		for _, ep := range cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json") {
			if ep.DockerID != "" {
				have = append(have, ep.Name+"/"+ep.State)
			}
		}
		slices.Sort(want)
		slices.Sort(have)
		return slices.Equal(want, have)
	})
	if !ok {
		t.Errorf("ebpfnet has Docker endpoints %v, Docker runs %v", have, want)
	}
}

// Restarts lose nothing: ebpfnet's daemon stopped and started again
// (the datapath forwards meanwhile), dockerd with live-restore restarted
// (its containers keep running and keep their endpoints), dockerd killed
// with -9 and started again without it (its cleanup removes the dead
// containers' endpoints, and a container with a restart policy comes
// back on a new one), and docker kill.
func TestDockerRestarts(t *testing.T) {
	t.Parallel()
	w := world.New(t, bin)
	d := w.NewDocker()
	plugin := []string{"--docker-plugin", "--docker-plugin-socket", d.PluginSocket()}
	w.StartDaemon(plugin...)
	writeDaemonJSON(t, d, `{"live-restore": true}`)
	d.Start()
	d.Must("network", "create", "-d", "ebpfnet", "--subnet", "10.25.0.0/24", "web")
	d.Must(append([]string{"run", "-d", "--name", "api", "--restart", "always", "--network", "web", "-p", "8080:80", d.Image},
		httpdCmd("hello-restart")...)...)
	d.Must("run", "-d", "--name", "cli", "--network", "web", d.Image, "sleep", "600")
	url := "http://" + world.NodeIP.String() + ":8080/"
	mustGetPage(t, w, w.Ext, url, "hello-restart")
	t.Run("ebpfnet restart", func(t *testing.T) {
		w.StopDaemon()
		mustGetPage(t, w, w.Ext, url, "hello-restart")
		w.StartDaemon(plugin...)
		dockerAgrees(t, w, d)
		d.Must("run", "-d", "--name", "late", "--network", "web", d.Image, "sleep", "600")
		dockerAgrees(t, w, d)
		mustGetPage(t, w, w.Ext, url, "hello-restart")
	})
	t.Run("dockerd restart with live-restore", func(t *testing.T) {
		before := cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json")
		d.Stop(false)
		mustGetPage(t, w, w.Ext, url, "hello-restart")
		d.Start()
		dockerAgrees(t, w, d)
		if after := cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json"); len(after) != len(before) {
			t.Errorf("endpoints %d before, %d after", len(before), len(after))
		}
		mustGetPage(t, w, w.Ext, url, "hello-restart")
	})
	t.Run("dockerd killed", func(t *testing.T) {
		writeDaemonJSON(t, d, `{}`)
		d.Stop(true)
		d.Start()
		// Without live-restore, the containers die with dockerd's start;
		// api's restart policy brings it back.
		if !world.Wait(20*time.Second, func() bool { return dockerRunning(d) == "api" }) {
			t.Fatalf("running after dockerd's restart: %q, want api", dockerRunning(d))
		}
		dockerAgrees(t, w, d)
		mustGetPage(t, w, w.Ext, url, "hello-restart")
	})
	t.Run("docker kill", func(t *testing.T) {
		d.Must("update", "--restart", "no", "api")
		d.Must("kill", "api")
		dockerAgrees(t, w, d)
		leftInEbpfnet(t, w)
	})
}

// pluginCall posts a body to the driver's socket as dockerd does.
func pluginCall(t *testing.T, sock, route, body string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	resp, err := c.Post("http://plugin/"+route, "application/vnd.docker.plugins.v1.1+json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", route, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// Calls for what the driver does not know, and bodies that are not
// JSON, get Docker's error answer ({"Err": ...}, or 400) and change
// nothing; the daemon goes on serving.
func TestDockerDriverBadCalls(t *testing.T) {
	t.Parallel()
	w := world.New(t, bin)
	sock := filepath.Join(w.Dir, "plugins", "ebpfnet.sock")
	w.StartDaemon("--docker-plugin", "--docker-plugin-socket", sock)
	id := strings.Repeat("ab", 32)
	for _, c := range []struct{ route, body, want string }{
		{"NetworkDriver.Join", `{"NetworkID":"` + id + `","EndpointID":"` + id + `","SandboxKey":"/x"}`, "not found"},
		{"NetworkDriver.CreateEndpoint", `{"NetworkID":"` + id + `","EndpointID":"` + id + `","Interface":{"Address":"10.9.0.2/24"}}`, "not found"},
		{"NetworkDriver.ProgramExternalConnectivity", `{"NetworkID":"` + id + `","EndpointID":"` + id + `"}`, "not found"},
		{"NetworkDriver.EndpointOperInfo", `{"NetworkID":"` + id + `","EndpointID":"` + id + `"}`, "not found"},
		{"NetworkDriver.CreateNetwork", `{"NetworkID":"../../etc","IPv4Data":[{"Pool":"10.9.0.0/24"}]}`, "not a Docker id"},
		{"NetworkDriver.CreateNetwork", `{"NetworkID":"` + id + `","IPv4Data":[{"Pool":"10.9.0.0/33"}]}`, "10.9.0.0/33"},
		{"NetworkDriver.AllocateNetwork", `{"NetworkID":"` + id + `"}`, "local driver"},
	} {
		code, body := pluginCall(t, sock, c.route, c.body)
		var e struct{ Err string }
		if code != http.StatusInternalServerError || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Err, c.want) {
			t.Errorf("%s: %d %s, want 500 with an Err holding %q", c.route, code, body, c.want)
		}
	}
	if code, body := pluginCall(t, sock, "NetworkDriver.CreateNetwork", `{"NetworkID":`); code != http.StatusBadRequest {
		t.Errorf("a body cut short: %d %s, want 400", code, body)
	}
	for _, ok := range []string{"NetworkDriver.DeleteEndpoint", "NetworkDriver.DeleteNetwork", "NetworkDriver.Leave",
		"NetworkDriver.RevokeExternalConnectivity"} {
		if code, body := pluginCall(t, sock, ok, `{"NetworkID":"`+id+`","EndpointID":"`+id+`"}`); code != http.StatusOK {
			t.Errorf("%s of what is not there: %d %s, want success", ok, code, body)
		}
	}
	if nets := cliJSON[[]api.Network](t, w, "network", "ls", "--json"); len(nets) != 1 {
		t.Errorf("networks after bad calls: %+v", nets)
	}
	leftInEbpfnet(t, w)
	if code, body := pluginCall(t, sock, "NetworkDriver.CreateNetwork",
		`{"NetworkID":"`+id+`","IPv4Data":[{"Pool":"10.9.0.0/24","Gateway":"10.9.0.1/24"}]}`); code != http.StatusOK {
		t.Errorf("a good create after them: %d %s", code, body)
	}
	inspectNetwork(t, w, dockerdrv.Name(id))
	if st := status(t, w); st.DockerPlugin != sock {
		t.Errorf("status shows the driver on %q, want %q", st.DockerPlugin, sock)
	}
	if out := w.MustCLI("status"); !strings.Contains(out, "docker:     network driver on "+sock) {
		t.Errorf("status does not name the driver's socket:\n%s", out)
	}
}
