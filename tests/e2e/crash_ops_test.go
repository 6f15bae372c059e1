package e2e

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// op is one API call of a burst and the change to the model it makes if
// it takes place; one meant to be refused changes nothing.
type op struct {
	desc  string
	do    func(context.Context, *api.Client) error
	apply func(*model)
}

func (o *op) String() string { return o.desc }

// The burst's world: a few endpoints, networks and host ports, so that
// operations meet each other's objects.
const (
	burstEndpoints = 6
	burstNetworks  = 3
	burstPortFirst = 18000
	burstPorts     = 8
)

// generator makes an op fitting the model, or reports it has none.
type generator func(*rand.Rand, *world.World, *model) (op, bool)

// burstMix weighs each kind of operation.
var burstMix = []struct {
	weight int
	gen    generator
}{
	{20, createEndpointOp},
	{12, removeEndpointOp},
	{14, connectOp},
	{8, disconnectOp},
	{18, publishOp},
	{10, unpublishOp},
	{8, createNetworkOp},
	{6, removeNetworkOp},
	{4, refusedPublishOp},
}

func nextOp(r *rand.Rand, w *world.World, m *model) op {
	total := 0
	for _, g := range burstMix {
		total += g.weight
	}
	for {
		n := r.Intn(total)
		for _, g := range burstMix {
			if n -= g.weight; n < 0 {
				if o, ok := g.gen(r, w, m); ok {
					return o
				}
				break
			}
		}
	}
}

// pick is a random element of a sorted copy of keys: the same seed picks
// the same element whatever the map's order.
func pick(r *rand.Rand, keys []string) (string, bool) {
	if len(keys) == 0 {
		return "", false
	}
	slices.Sort(keys)
	return keys[r.Intn(len(keys))], true
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (m *model) networks() []string { return append(keysOf(m.nets), "bridge") }

// freePort is a random host port of the burst's range the model has not
// published for proto.
func (m *model) freePort(r *rand.Rand, proto string) (uint16, bool) {
	var free []string
	for i := 0; i < burstPorts; i++ {
		if _, ok := m.ports[portKey(proto, uint16(burstPortFirst+i))]; !ok {
			free = append(free, fmt.Sprint(burstPortFirst+i))
		}
	}
	p, ok := pick(r, free)
	var port uint16
	fmt.Sscan(p, &port)
	return port, ok
}

// spec is a random publication of a free host port: the Docker spec, and
// the model's key and value for it.
func (m *model) spec(r *rand.Rand, endpoint string) (string, string, string, bool) {
	proto := []string{"tcp", "udp"}[r.Intn(2)]
	hp, ok := m.freePort(r, proto)
	cport := 80 + r.Intn(3)
	return fmt.Sprintf("%d:%d/%s", hp, cport, proto), portKey(proto, hp), fmt.Sprintf("%s:%d", endpoint, cport), ok
}

// newEndpoint is a random endpoint name the model does not have and a
// network for it.
func (m *model) newEndpoint(r *rand.Rand, w *world.World) (string, string, bool) {
	var free []string
	for i := 0; i < burstEndpoints; i++ {
		if _, ok := m.eps[w.Name(fmt.Sprint("e", i))]; !ok {
			free = append(free, w.Name(fmt.Sprint("e", i)))
		}
	}
	name, ok := pick(r, free)
	network, _ := pick(r, m.networks())
	return name, network, ok
}

func createEndpointOp(r *rand.Rand, w *world.World, m *model) (op, bool) {
	name, network, ok := m.newEndpoint(r, w)
	if !ok {
		return op{}, false
	}
	req := api.EndpointCreate{Name: name, Network: network}
	key, val := "", ""
	if r.Intn(3) == 0 {
		if spec, k, v, ok := m.spec(r, name); ok {
			req.Publish, key, val = []string{spec}, k, v
		}
	}
	return op{
		desc: fmt.Sprintf("endpoint create %s --network %s --publish %v", name, network, req.Publish),
		do: func(ctx context.Context, cl *api.Client) error {
			_, err := cl.CreateEndpoint(ctx, req)
			return err
		},
		apply: func(m *model) {
			m.eps[name] = []string{network}
			if key != "" {
				m.ports[key] = val
			}
		},
	}, true
}

func removeEndpointOp(r *rand.Rand, _ *world.World, m *model) (op, bool) {
	name, ok := pick(r, keysOf(m.eps))
	return op{
		desc: "endpoint rm " + name,
		do:   func(ctx context.Context, cl *api.Client) error { return cl.RemoveEndpoint(ctx, name) },
		apply: func(m *model) {
			delete(m.eps, name)
			for k, v := range m.ports {
				if strings.HasPrefix(v, name+":") {
					delete(m.ports, k)
				}
			}
		},
	}, ok
}

func connectOp(r *rand.Rand, _ *world.World, m *model) (op, bool) {
	name, ok := pick(r, keysOf(m.eps))
	if !ok {
		return op{}, false
	}
	others := slices.DeleteFunc(m.networks(), func(n string) bool { return slices.Contains(m.eps[name], n) })
	network, ok := pick(r, others)
	return op{
		desc: fmt.Sprintf("network connect %s %s", network, name),
		do: func(ctx context.Context, cl *api.Client) error {
			_, err := cl.Connect(ctx, network, api.Connect{Endpoint: name})
			return err
		},
		apply: func(m *model) { m.eps[name] = append(m.eps[name], network) },
	}, ok
}

// disconnectOp takes an interface from an endpoint with two or more; the
// first one's going moves the default route and the publications.
func disconnectOp(r *rand.Rand, _ *world.World, m *model) (op, bool) {
	var multi []string
	for e, nets := range m.eps {
		if len(nets) > 1 {
			multi = append(multi, e)
		}
	}
	name, ok := pick(r, multi)
	if !ok {
		return op{}, false
	}
	network, _ := pick(r, slices.Clone(m.eps[name]))
	return op{
		desc: fmt.Sprintf("network disconnect %s %s", network, name),
		do: func(ctx context.Context, cl *api.Client) error {
			_, err := cl.Disconnect(ctx, network, api.Connect{Endpoint: name})
			return err
		},
		apply: func(m *model) {
			m.eps[name] = slices.DeleteFunc(m.eps[name], func(n string) bool { return n == network })
		},
	}, true
}

func publishOp(r *rand.Rand, _ *world.World, m *model) (op, bool) {
	name, ok := pick(r, keysOf(m.eps))
	if !ok {
		return op{}, false
	}
	spec, key, val, ok := m.spec(r, name)
	return op{
		desc: fmt.Sprintf("publish %s %s", name, spec),
		do: func(ctx context.Context, cl *api.Client) error {
			_, err := cl.Publish(ctx, name, []string{spec})
			return err
		},
		apply: func(m *model) { m.ports[key] = val },
	}, ok
}

// refusedPublishOp publishes a host port another publication has, alone
// or with a new endpoint: refused, it must leave no trace.
func refusedPublishOp(r *rand.Rand, w *world.World, m *model) (op, bool) {
	key, ok := pick(r, keysOf(m.ports))
	if !ok {
		return op{}, false
	}
	proto, hp, _ := strings.Cut(key, "/")
	spec := hp + ":80/" + proto
	name, network, ok := m.newEndpoint(r, w)
	if !ok || r.Intn(2) == 0 {
		owner, _ := pick(r, keysOf(m.eps))
		return op{
			desc: fmt.Sprintf("publish %s %s (taken)", owner, spec),
			do: func(ctx context.Context, cl *api.Client) error {
				_, err := cl.Publish(ctx, owner, []string{spec})
				return err
			},
			apply: func(*model) {},
		}, true
	}
	return op{
		desc: fmt.Sprintf("endpoint create %s --network %s --publish %s (taken)", name, network, spec),
		do: func(ctx context.Context, cl *api.Client) error {
			_, err := cl.CreateEndpoint(ctx, api.EndpointCreate{Name: name, Network: network, Publish: []string{spec}})
			return err
		},
		apply: func(*model) {},
	}, true
}

func unpublishOp(r *rand.Rand, _ *world.World, m *model) (op, bool) {
	key, ok := pick(r, keysOf(m.ports))
	if !ok {
		return op{}, false
	}
	proto, hp, _ := strings.Cut(key, "/")
	name, cport, _ := strings.Cut(m.ports[key], ":")
	spec := hp + ":" + cport + "/" + proto
	return op{
		desc: fmt.Sprintf("unpublish %s %s", name, spec),
		do: func(ctx context.Context, cl *api.Client) error {
			_, err := cl.Unpublish(ctx, name, []string{spec})
			return err
		},
		apply: func(m *model) { delete(m.ports, key) },
	}, true
}

func createNetworkOp(r *rand.Rand, _ *world.World, m *model) (op, bool) {
	var free []string
	for i := 0; i < burstNetworks; i++ {
		if !m.nets[fmt.Sprint("n", i)] {
			free = append(free, fmt.Sprint("n", i))
		}
	}
	name, ok := pick(r, free)
	req := api.NetworkCreate{Name: name, Subnet: fmt.Sprintf("10.3%s.0.0/24", strings.TrimPrefix(name, "n"))}
	return op{
		desc: fmt.Sprintf("network create %s --subnet %s", name, req.Subnet),
		do: func(ctx context.Context, cl *api.Client) error {
			_, err := cl.CreateNetwork(ctx, req)
			return err
		},
		apply: func(m *model) { m.nets[name] = true },
	}, ok
}

// removeNetworkOp removes a network, refused while endpoints are on it.
func removeNetworkOp(r *rand.Rand, _ *world.World, m *model) (op, bool) {
	name, ok := pick(r, keysOf(m.nets))
	used := false
	for _, nets := range m.eps {
		used = used || slices.Contains(nets, name)
	}
	return op{
		desc: "network rm " + name,
		do:   func(ctx context.Context, cl *api.Client) error { return cl.RemoveNetwork(ctx, name) },
		apply: func(m *model) {
			if !used {
				delete(m.nets, name)
			}
		},
	}, ok
}
