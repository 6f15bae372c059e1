package e2e

import (
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 4, point 1: the forms of Docker's -p syntax, each published as
// Docker would, reported back, and reachable.
func TestPublishSyntax(t *testing.T) {
	t.Parallel()
	w, srv, _ := srvWorld(t)
	serve(t, w, srv, "tcp", ":85", "srv")
	lo, hi := ephemeralRange(t, w)
	for _, c := range []struct {
		spec  string
		want  []string // the publish command's lines
		reach []string // proto/addr to dial from ext, or from the node for 127.0.0.1
	}{
		{"8080:80", []string{"80/tcp -> 0.0.0.0:8080"}, []string{"tcp/198.51.100.1:8080"}},
		{"127.0.0.1:8081:80", []string{"80/tcp -> 127.0.0.1:8081"}, []string{"tcp/127.0.0.1:8081"}},
		{"198.51.100.1:8082:80", []string{"80/tcp -> 198.51.100.1:8082"}, []string{"tcp/198.51.100.1:8082"}},
		{"8000-8009:80-89", rangeLines(8000, 80, 10), []string{"tcp/198.51.100.1:8000", "tcp/198.51.100.1:8005"}},
		{"53:53/udp", []string{"53/udp -> 0.0.0.0:53"}, []string{"udp/198.51.100.1:53"}},
		{"0.0.0.0:8083:85/TCP", []string{"85/tcp -> 0.0.0.0:8083"}, []string{"tcp/198.51.100.1:8083"}},
	} {
		t.Run(c.spec, func(t *testing.T) {
			if got := lines(w.MustCLI("publish", srv, c.spec)); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("publish %s printed %q, want %q", c.spec, got, c.want)
			}
			for _, r := range c.reach {
				proto, addr, _ := strings.Cut(r, "/")
				from, inCgroup := w.Ext, false
				if strings.HasPrefix(addr, "127.") {
					from, inCgroup = w.Node, true
				}
				mustReach(t, w, from, inCgroup, proto, addr, "srv ", addr)
			}
		})
	}
	t.Run("80", func(t *testing.T) {
		out := lines(w.MustCLI("publish", srv, "80"))
		host, ok := strings.CutPrefix(strings.Join(out, ""), "80/tcp -> 0.0.0.0:")
		port, err := strconv.Atoi(host)
		if !ok || err != nil || port < lo || port > hi {
			t.Fatalf("publish 80 printed %q, want 80/tcp -> 0.0.0.0:PORT with PORT in %d-%d", out, lo, hi)
		}
		mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:"+host, "srv ", "198.51.100.1:"+host)
		if got := lines(w.MustCLI("port", srv)); !slices.Contains(got, "80/tcp -> 0.0.0.0:"+host) {
			t.Errorf("port %s does not list the chosen host port %s:\n%s", srv, host, strings.Join(got, "\n"))
		}
	})
}

// Issue 4: `endpoint create --publish` publishes as `publish` does and
// reports the host ports, a chosen one included; a publication that fails
// leaves no endpoint behind.
func TestEndpointCreatePublish(t *testing.T) {
	t.Parallel()
	w := pubWorld(t)
	ep := w.Name("api")
	out := lines(w.MustCLI("endpoint", "create", ep, "--network", "web", "-p", "8090:80", "-p", "80/udp"))
	if len(out) != 3 || !strings.HasPrefix(out[0], ep+" eth0 10.10.0.2 on web") || out[1] != "80/tcp -> 0.0.0.0:8090" {
		t.Fatalf("endpoint create -p printed %q", out)
	}
	host, ok := strings.CutPrefix(out[2], "80/udp -> 0.0.0.0:")
	if _, err := strconv.Atoi(host); !ok || err != nil {
		t.Fatalf("endpoint create -p 80/udp printed %q, want a chosen host port", out[2])
	}
	serve(t, w, ep, "tcp", ":80", "api")
	serve(t, w, ep, "udp", ":80", "api")
	mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8090", "api ", "198.51.100.1:8090")
	mustReach(t, w, w.Ext, false, "udp", "198.51.100.1:"+host, "api ", "198.51.100.1:"+host)
	if got := lines(w.MustCLI("port", ep)); !reflect.DeepEqual(got, out[1:]) {
		t.Errorf("port %s lists %q, want %q", ep, got, out[1:])
	}

	clash := w.Name("clash")
	before := bpfPortsOf(t, w)
	mustFailCLI(t, w, "8090", "endpoint", "create", clash, "--network", "web", "-p", "8090:80")
	if eps := cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json"); len(eps) != 1 {
		t.Errorf("after a failed create -p: %d endpoints, want 1", len(eps))
	}
	if _, err := os.Stat("/run/netns/" + clash); err == nil {
		t.Errorf("a failed create -p left /run/netns/%s", clash)
	}
	if after := bpfPortsOf(t, w); !reflect.DeepEqual(after, before) {
		t.Errorf("a failed create -p changed enet_ports: %v, was %v", after, before)
	}
}

func rangeLines(host, cport, n int) []string {
	var out []string
	for i := range n {
		out = append(out, strconv.Itoa(cport+i)+"/tcp -> 0.0.0.0:"+strconv.Itoa(host+i))
	}
	return out
}

func lines(s string) []string {
	return strings.Split(strings.TrimSpace(s), "\n")
}

// ephemeralRange is the node's ip_local_port_range.
func ephemeralRange(t *testing.T, w *world.World) (int, int) {
	t.Helper()
	f := strings.Fields(w.MustExec(w.Node, "cat", "/proc/sys/net/ipv4/ip_local_port_range"))
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("ip_local_port_range: %v", f)
	}
	return lo, hi
}

// Issue 4, point 6: bad publications fail with a clear error and change
// nothing: not the publications, not enet_ports, and no host port stays
// held.
func TestPublishErrors(t *testing.T) {
	t.Parallel()
	w := pubWorld(t, "srv", "other")
	srv, other := w.Name("srv"), w.Name("other")
	w.MustCLI("publish", srv, "8080:80", "127.0.0.1:9090:90", "5353:53/udp")
	serve(t, w, w.Node, "tcp", ":7070", "node")
	serve(t, w, w.Node, "udp", "198.51.100.1:7071", "node")
	ports, bpf := portsOf(t, w), bpfPortsOf(t, w)
	for _, c := range []struct {
		name, endpoint string
		specs          []string
		want           string
	}{
		{"same port twice", other, []string{"8080:81"}, "Bind for 0.0.0.0:8080 failed: port is already allocated"},
		{"every address after one", other, []string{"9090:81"}, "Bind for 0.0.0.0:9090 failed: port is already allocated"},
		{"one address after every", other, []string{"127.0.0.1:8080:81"}, "Bind for 127.0.0.1:8080 failed: port is already allocated"},
		{"same endpoint again", srv, []string{"8080:80"}, "port is already allocated"},
		{"twice in one call", other, []string{"8100:80", "8100:81"}, "Bind for 0.0.0.0:8100 failed: port is already allocated"},
		{"after a good one", other, []string{"8101:80", "5353:53/udp"}, "Bind for 0.0.0.0:5353 failed: port is already allocated (endpoint \"" + srv + "\" publishes 5353/udp)"},
		{"range over a published port", other, []string{"8075-8085:75-85"}, "Bind for 0.0.0.0:8080 failed: port is already allocated"},
		{"a listening socket's port", other, []string{"7070:80"}, "host port 0.0.0.0:7070/tcp is in use by a socket on the node"},
		{"a bound udp socket's port", other, []string{"7071:53/udp"}, "host port 0.0.0.0:7071/udp is in use by a socket on the node"},
		{"range over a listening port", other, []string{"7065-7075:80-90"}, "host port 0.0.0.0:7070/tcp is in use"},
		{"missing endpoint", w.Name("nope"), []string{"8102:80"}, `endpoint "` + w.Name("nope") + `" not found`},
		{"host port 0", other, []string{"0:80"}, "port 0 is out of range (1-65535)"},
		{"container port 0", other, []string{"8103:0"}, "port 0 is out of range (1-65535)"},
		{"host port above 65535", other, []string{"65536:80"}, "port 65536 is out of range (1-65535)"},
		{"container port above 65535", other, []string{"8103:65536"}, "port 65536 is out of range (1-65535)"},
		{"reversed host range", other, []string{"8010-8000:80-90"}, "range 8010-8000 is reversed"},
		{"reversed container range", other, []string{"8000-8010:90-80"}, "range 90-80 is reversed"},
		{"unequal ranges", other, []string{"8000-8009:80-85"}, "host range 8000-8009 and container range 80-85 differ in length"},
		{"unknown protocol", other, []string{"8104:80/dccp"}, `unknown protocol "dccp"`},
		{"address not the node's", other, []string{"203.0.113.9:8105:80"}, "203.0.113.9 is not an address of the node"},
		{"not an address", other, []string{"node:8105:80"}, `"node" is not an IPv4 address`},
		{"no spec", other, nil, "'ebpfnet publish' requires at least 2 arguments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mustFailCLI(t, w, c.want, append([]string{"publish", c.endpoint}, c.specs...)...)
			if got := portsOf(t, w); !reflect.DeepEqual(got, ports) {
				t.Errorf("ebpfnet port changed:\n%v\nwant\n%v", got, ports)
			}
			if got := bpfPortsOf(t, w); !reflect.DeepEqual(got, bpf) {
				t.Errorf("enet_ports changed:\n%v\nwant\n%v", got, bpf)
			}
		})
	}
	// The failed calls released every port they had taken on the way.
	w.MustCLI("publish", other, "8100:80", "8101:81", "7065-7069:80-84", "8075-8079:75-79")
	w.MustCLI("publish", other, "8080:81/udp")
}
