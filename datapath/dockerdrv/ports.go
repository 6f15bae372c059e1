package dockerdrv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/docker/go-plugins-helpers/network"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
)

// optPortMap is where Docker puts a container's -p bindings.
const optPortMap = "com.docker.network.portmap"

// binding is libnetwork's types.PortBinding as JSON.
type binding struct {
	Proto       int
	IP          string
	Port        int
	HostIP      string
	HostPort    int
	HostPortEnd int
}

// protoNames are the IP protocol numbers Docker sends.
var protoNames = map[int]string{6: "tcp", 17: "udp", 132: "sctp"}

// bindings reads the -p bindings out of the options.
func bindings(opts map[string]any) ([]binding, error) {
	raw, ok := opts[optPortMap]
	if !ok || raw == nil {
		return nil, nil
	}
	js, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var out []binding
	if err := json.Unmarshal(js, &out); err != nil {
		return nil, errdefs.Invalid("%s: %v", optPortMap, err)
	}
	return out, nil
}

// spec is a binding in -p syntax, as ebpfnet publishes it: Docker's
// semantics carry over, a zero host port is a free one, a host port
// range gives one free port of the range.
func (b binding) spec() (string, error) {
	proto, ok := protoNames[b.Proto]
	if !ok {
		return "", errdefs.Invalid("port %d: IP protocol %d is not tcp, udp or sctp", b.Port, b.Proto)
	}
	if b.Port <= 0 || b.Port > 65535 || b.HostPort < 0 || b.HostPort > 65535 || b.HostPortEnd < 0 || b.HostPortEnd > 65535 {
		return "", errdefs.Invalid("port binding %d:%d: ports are 1-65535", b.HostPort, b.Port)
	}
	ip, err := b.hostIP()
	if err != nil {
		return "", err
	}
	host := ""
	switch {
	case b.HostPort == 0:
	case b.HostPortEnd > b.HostPort:
		host = fmt.Sprintf("%d-%d", b.HostPort, b.HostPortEnd)
	default:
		host = strconv.Itoa(b.HostPort)
	}
	cport := strconv.Itoa(b.Port) + "/" + proto
	switch {
	case ip.IsValid():
		return ip.String() + ":" + host + ":" + cport, nil
	case host != "":
		return host + ":" + cport, nil
	}
	return cport, nil
}

// hostIP is the binding's host address: the zero Addr for every one.
func (b binding) hostIP() (netip.Addr, error) {
	if b.HostIP == "" || b.HostIP == "0.0.0.0" {
		return netip.Addr{}, nil
	}
	ip, err := netip.ParseAddr(b.HostIP)
	if err != nil || !ip.Is4() {
		return netip.Addr{}, errdefs.Invalid("host ip %.40q: ebpfnet publishes on IPv4 addresses only", b.HostIP)
	}
	return ip, nil
}

// published says whether the endpoint publishes the binding already: a
// call Docker repeats publishes nothing twice.
func (b binding) published(ports []api.Port) bool {
	ip, _ := b.hostIP()
	want := "0.0.0.0"
	if ip.IsValid() {
		want = ip.String()
	}
	for _, p := range ports {
		last := max(b.HostPortEnd, b.HostPort)
		inRange := b.HostPort == 0 || (int(p.HostPort) >= b.HostPort && int(p.HostPort) <= last)
		if p.Proto == protoNames[b.Proto] && int(p.ContainerPort) == b.Port && p.HostIP == want && inRange {
			return true
		}
	}
	return false
}

// ProgramExternalConnectivity publishes the container's -p bindings on
// the endpoint Docker picked for its way out. The host ports are held by
// ebpfnet's sockets, as docker-proxy would hold them, with no proxy.
func (d *Driver) ProgramExternalConnectivity(req *network.ProgramExternalConnectivityRequest) error {
	return d.serve("publish", req.EndpointID, func(ctx context.Context) error { return d.program(ctx, req) })
}

func (d *Driver) program(ctx context.Context, req *network.ProgramExternalConnectivityRequest) error {
	bs, err := bindings(req.Options)
	if err != nil {
		return err
	}
	ep, err := d.findEndpoint(ctx, req.EndpointID)
	if err != nil {
		return err
	}
	var specs []string
	for _, b := range bs {
		s, err := b.spec()
		if err != nil {
			return err
		}
		if !b.published(ep.Ports) {
			specs = append(specs, s)
		}
	}
	if len(specs) == 0 {
		return nil
	}
	_, err = d.ctl.Publish(ctx, ep.Name, api.Publish{Specs: specs})
	return err
}

// RevokeExternalConnectivity withdraws every publication of the
// endpoint. An endpoint already gone has none.
func (d *Driver) RevokeExternalConnectivity(req *network.RevokeExternalConnectivityRequest) error {
	return d.serve("unpublish", req.EndpointID, func(ctx context.Context) error { return d.revoke(ctx, req.EndpointID) })
}

func (d *Driver) revoke(ctx context.Context, id string) error {
	ep, err := d.findEndpoint(ctx, id)
	if notFound(err) {
		return nil
	}
	if err != nil || len(ep.Ports) == 0 {
		return err
	}
	var specs []string
	for _, p := range ep.Ports {
		specs = append(specs, fmt.Sprintf("%s:%d:%d/%s", p.HostIP, p.HostPort, p.ContainerPort, p.Proto))
	}
	_, err = d.ctl.Unpublish(ctx, ep.Name, api.Publish{Specs: specs})
	if notFound(err) {
		return nil
	}
	return err
}
