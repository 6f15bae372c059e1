package control

import (
	"cmp"
	"slices"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/ports"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// publicationsByEndpoint groups the store's publications by endpoint.
func publicationsByEndpoint(tx *store.Tx) (map[string][]store.Port, error) {
	all, err := tx.Ports()
	by := map[string][]store.Port{}
	for _, p := range all {
		by[p.Endpoint] = append(by[p.Endpoint], p)
	}
	return by, err
}

// withPorts is an endpoint's view with its publications (pubs), as
// `ebpfnet port` lists them.
func withPorts(v api.Endpoint, ep *store.Endpoint, pubs []store.Port) api.Endpoint {
	target := ports.Target(ep)
	v.Ports = make([]api.Port, 0, len(pubs))
	for i := range pubs {
		v.Ports = append(v.Ports, portView(&pubs[i], target))
	}
	slices.SortFunc(v.Ports, portOrder)
	return v
}

// readPorts is an endpoint's view with its publications, read from st
// in a transaction of its own.
func readPorts(st *store.Store, v api.Endpoint, ep *store.Endpoint) (api.Endpoint, error) {
	var pubs []store.Port
	err := st.View(func(tx *store.Tx) error {
		var err error
		pubs, err = ports.Of(tx, ep.Name, ports.All)
		return err
	})
	return withPorts(v, ep, pubs), err
}

// portOrder is the order publications are listed in: by endpoint,
// container port, protocol and host address.
func portOrder(a, b api.Port) int {
	return cmp.Or(strings.Compare(a.Endpoint, b.Endpoint), cmp.Compare(a.ContainerPort, b.ContainerPort),
		strings.Compare(a.Proto, b.Proto), strings.Compare(a.HostIP, b.HostIP))
}
