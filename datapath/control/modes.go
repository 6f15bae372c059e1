package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// An endpoint's mode is docker run's --network none, host or
// container:NAME. none is a namespace of its own with only loopback;
// host is the node's namespace, none of its own; container:NAME shares
// endpoint NAME's, so its interfaces, addresses and ports are NAME's.
// None of them has networks of its own to connect or publish on.

// containerPrefix starts a container:NAME mode.
const containerPrefix = "container:"

// modeOf reads docker run's special --network values; mode is "" for a
// network's name.
func modeOf(network string) (mode, shares string) {
	switch {
	case network == store.ModeNone, network == store.ModeHost:
		return network, ""
	case strings.HasPrefix(network, containerPrefix):
		return store.ModeContainer, strings.TrimPrefix(network, containerPrefix)
	}
	return "", ""
}

// Docker's refusals (moby runconfig/errors.go), word for word where the
// case is Docker's.
const (
	errMixedModes     = "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
	errNoneConnect    = "container cannot be connected to multiple networks with one of the networks in private (none) mode"
	errHostConnect    = "container cannot be disconnected from host network or connected to host network"
	errSharedConnect  = "container sharing network namespace with another container or host cannot be connected to any other network"
	errModeIP         = "user specified IP address is supported on user defined networks only"
	errModeAlias      = "network-scoped alias is supported only for containers in user defined networks"
	errModeMAC        = "conflicting options: mac-address and the network mode"
	errModeDNS        = "conflicting options: dns and the network mode"
	errSharedPublish  = "conflicting options: port publishing and the container type network mode"
	errHostPublish    = "published ports are discarded when using host network mode: a host endpoint's services listen on the node's own addresses already"
	errNonePublish    = "a --network none endpoint has only loopback: nothing can be published to it"
	errModeOtherNetns = "a --network %s endpoint takes no --netns: %s"
)

// connectError is what connecting or disconnecting a mode endpoint gets.
func connectError(mode string) error {
	switch mode {
	case store.ModeNone:
		return errdefs.Conflict(errNoneConnect)
	case store.ModeHost:
		return errdefs.Conflict(errHostConnect)
	}
	return errdefs.Conflict(errSharedConnect)
}

// publishError is what publishing on a mode endpoint gets.
func publishError(mode string) error {
	switch mode {
	case store.ModeNone:
		return errdefs.Conflict(errNonePublish)
	case store.ModeHost:
		return errdefs.Conflict(errHostPublish)
	}
	return errdefs.Conflict(errSharedPublish)
}

// checkModeRequest refuses what docker run refuses beside a mode.
func checkModeRequest(req api.EndpointCreate, mode string) error {
	switch {
	case req.IP != "":
		return errdefs.Invalid(errModeIP)
	case len(req.Aliases) > 0:
		return errdefs.Invalid(errModeAlias)
	case req.MAC != "":
		return errdefs.Invalid(errModeMAC)
	case len(req.Publish) > 0:
		return publishError(mode)
	case req.Handoff || req.Ifname != "":
		return errdefs.Invalid("a --network %s endpoint has no interface of its own to hand off or name", mode)
	case mode == store.ModeNone && req.Netns != "":
		return errdefs.Invalid(errModeOtherNetns, mode, "ebpfnet makes its namespace, /run/netns/NAME, with only loopback up")
	case req.Netns != "":
		return errdefs.Invalid(errModeOtherNetns, mode, "it has no namespace of its own")
	case mode != store.ModeNone && !req.DNS.IsZero():
		return errdefs.Invalid(errModeDNS)
	case mode != store.ModeNone && req.OnGone == store.OnGoneRemove:
		return errdefs.Invalid("a --network %s endpoint has no namespace of its own to follow: on-gone remove is for "+
			"endpoints with one", mode)
	}
	return nil
}

// checkModeNetworks refuses a mode among several networks.
func checkModeNetworks(nets []api.EndpointNetwork) error {
	if len(nets) < 2 {
		return nil
	}
	for _, n := range nets {
		if mode, _ := modeOf(n.Name); mode != "" {
			return errdefs.Invalid(errMixedModes)
		}
	}
	return nil
}

// sharing is the orchestrator at work on mode endpoints and the
// namespaces endpoints share.
type sharing struct{ *Control }

// create creates a none, host or container:NAME endpoint.
func (c sharing) create(req api.EndpointCreate, mode, shares string) (*api.Endpoint, error) {
	if err := checkModeRequest(req, mode); err != nil {
		return nil, err
	}
	var ep *store.Endpoint
	err := c.store.Update(func(tx *store.Tx) error {
		var err error
		if ep, err = c.planner().modeEndpoint(tx, req, mode, shares); err != nil {
			return err
		}
		return tx.PutEndpoint(ep)
	})
	if err != nil {
		return nil, err
	}
	if err := c.applier().ensureEndpoint(ep, nil); err != nil {
		kernel := c.applier().teardownEndpoint(ep)
		stored := c.store.Update(func(tx *store.Tx) error { return tx.DeleteEndpoint(ep.Name) })
		c.leftBehind("endpoint "+ep.Name, kernel, stored, logf.Ep(ep.Name))
		return nil, fmt.Errorf("create endpoint %s: %w", ep.Name, errors.Join(err, kernel))
	}
	c.log.Info("endpoint created", logf.Ep(ep.Name), logf.Str("mode", modeName(ep)))
	return c.Endpoint(context.Background(), ep.Name)
}

// modeEndpoint plans a none, host or container:NAME endpoint. A sharer
// of a sharer shares the namespace's first holder's.
func (p planner) modeEndpoint(tx *store.Tx, req api.EndpointCreate, mode, shares string) (*store.Endpoint, error) {
	if err := checkName("endpoint", req.Name); err != nil {
		return nil, err
	}
	if old, err := tx.Endpoint(req.Name); err != nil || old != nil {
		return nil, errors.Join(err, errdefs.Conflict("endpoint %q already exists", req.Name))
	}
	ep := &store.Endpoint{Name: req.Name, State: store.StateReady, OnGone: store.OnGoneKeep, Created: time.Now().UTC(),
		ContainerID: req.ContainerID, Mode: mode}
	switch mode {
	case store.ModeNone:
		if req.OnGone == store.OnGoneRemove {
			ep.OnGone = store.OnGoneRemove
		}
		var err error
		if ep.DNS, err = checkDNSConf(req.DNS); err != nil {
			return nil, err
		}
		return ep, p.netns(tx, ep, "")
	case store.ModeContainer:
		owner, err := shareable(tx, shares)
		if err != nil {
			return nil, err
		}
		ep.Shares = owner.Name
	}
	return ep, nil
}

// shareable finds the endpoint whose namespace container:NAME shares:
// NAME's, or, if NAME shares another's, that one's.
func shareable(tx *store.Tx, name string) (*store.Endpoint, error) {
	if name == "" {
		return nil, errdefs.Invalid("container: names no endpoint; use container:NAME")
	}
	owner, err := tx.Endpoint(name)
	if err == nil && owner != nil && owner.Mode == store.ModeContainer {
		owner, err = tx.Endpoint(owner.Shares)
	}
	switch {
	case err != nil:
		return nil, err
	case owner == nil:
		return nil, errdefs.NotFound("endpoint %q not found: container:%s names the endpoint whose namespace to share", name, name)
	case owner.Handoff:
		return nil, errdefs.Conflict("endpoint %q is wired by its runtime: ebpfnet does not know its namespace to share", owner.Name)
	case owner.State == store.StateGone:
		return nil, goneError(owner)
	case owner.State != store.StateReady:
		return nil, errdefs.Conflict("endpoint %q is being removed", owner.Name)
	}
	return owner, nil
}

// modeName is the endpoint's mode as docker run's --network gives it.
func modeName(ep *store.Endpoint) string {
	if ep.Mode == store.ModeContainer {
		return containerPrefix + ep.Shares
	}
	return ep.Mode
}

// ensureMode makes what a mode endpoint holds in the kernel: a none
// endpoint's namespace with lo up; nothing for host and container:NAME.
func (a applier) ensureMode(ep *store.Endpoint) error {
	if ep.Mode != store.ModeNone {
		return nil
	}
	if _, err := a.dev.NetnsIno(ep.Netns); err != nil {
		if err := a.dev.CreateNetns(ep.Netns); err != nil {
			return err
		}
	}
	return a.dev.LoopbackUp(ep.Netns)
}

// sharersOf lists the endpoints sharing an endpoint's namespace.
func sharersOf(eps []store.Endpoint, owner string) []string {
	var out []string
	for _, e := range eps {
		if e.Mode == store.ModeContainer && e.Shares == owner {
			out = append(out, e.Name)
		}
	}
	return out
}

// sharedView is a container:NAME endpoint's view: its owner's namespace,
// interfaces, ports and state, under its own name and mode.
func sharedView(v api.Endpoint, owner *api.Endpoint) api.Endpoint {
	if owner == nil {
		v.State = store.StateGone
		return v
	}
	v.Netns, v.Interfaces, v.Ports, v.State = owner.Netns, owner.Interfaces, owner.Ports, owner.State
	return v
}
