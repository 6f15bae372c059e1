package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// netConf is the plugin's config in a conflist.
type netConf struct {
	types.NetConf
	// Network is the ebpfnet network to attach to; the conflist's name
	// when empty.
	Network string `json:"network,omitempty"`
	// Socket is the daemon's API socket: EBPFNET_SOCKET, else the default.
	Socket        string `json:"socket,omitempty"`
	RuntimeConfig struct {
		PortMappings []api.CNIPortMapping `json:"portMappings,omitempty"`
		IPs          []string             `json:"ips,omitempty"`
		MAC          string               `json:"mac,omitempty"`
		DNS          struct {
			Servers  []string `json:"servers,omitempty"`
			Searches []string `json:"searches,omitempty"`
			Options  []string `json:"options,omitempty"`
		} `json:"dns,omitzero"`
		// Aliases, by network name (the aliases capability).
		Aliases map[string][]string `json:"aliases,omitempty"`
	} `json:"runtimeConfig"`
}

func parseConf(raw []byte) (*netConf, error) {
	conf := &netConf{}
	if err := json.Unmarshal(raw, conf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "the plugin's config is not JSON", err.Error())
	}
	if err := version.ParsePrevResult(&conf.NetConf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "prevResult cannot be read", err.Error())
	}
	if conf.Network == "" {
		conf.Network = conf.Name
	}
	if conf.Socket == "" {
		conf.Socket = os.Getenv("EBPFNET_SOCKET")
	}
	if conf.Socket == "" {
		conf.Socket = api.DefaultSocket
	}
	return conf, nil
}

// attachReq is the daemon's request for the runtime's: the static
// address from the ips capability or CNI_ARGS IP=, the MAC from the mac
// capability or CNI_ARGS MAC=.
func attachReq(conf *netConf, args *skel.CmdArgs) (api.CNIAttach, error) {
	req := api.CNIAttach{ContainerID: args.ContainerID, Netns: args.Netns, Ifname: args.IfName, Network: conf.Network,
		PortMappings: conf.RuntimeConfig.PortMappings, MAC: conf.RuntimeConfig.MAC,
		Aliases: conf.RuntimeConfig.Aliases[conf.Name]}
	rc := conf.RuntimeConfig.DNS
	req.DNS = api.DNSConf{Servers: rc.Servers, Search: rc.Searches, Options: rc.Options}
	for _, kv := range strings.Split(args.Args, ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "IP":
			req.IP = v
		case "MAC":
			req.MAC = v
		case "K8S_POD_NAME":
			req.Name = v
		}
	}
	if len(conf.RuntimeConfig.IPs) > 1 {
		return req, types.NewError(types.ErrUnsupportedField, "ebpfnet gives an interface one IPv4 address; ips has several", "")
	}
	if len(conf.RuntimeConfig.IPs) == 1 {
		req.IP = conf.RuntimeConfig.IPs[0]
	}
	// The ips capability carries CIDRs; the daemon takes the address.
	if p, err := netip.ParsePrefix(req.IP); err == nil {
		req.IP = p.Addr().String()
	}
	return req, nil
}

// result is the CNI result of an attachment, after any the plugins
// before ebpfnet in a chain returned.
func result(conf *netConf, res *api.CNIResult) (types.Result, error) {
	out := &current.Result{CNIVersion: current.ImplementedSpecVersion}
	if conf.PrevResult != nil {
		prev, err := current.NewResultFromResult(conf.PrevResult)
		if err != nil {
			return nil, types.NewError(types.ErrDecodingFailure, "prevResult cannot be read", err.Error())
		}
		out = prev
	}
	addr, err := netip.ParsePrefix(res.Address)
	if err != nil {
		return nil, fmt.Errorf("the daemon answered address %q: %w", res.Address, err)
	}
	gw := net.ParseIP(res.Gateway)
	idx := len(out.Interfaces)
	out.Interfaces = append(out.Interfaces, &current.Interface{Name: res.Ifname, Mac: res.MAC, Sandbox: res.Sandbox, Mtu: res.MTU})
	out.IPs = append(out.IPs, &current.IPConfig{Interface: &idx,
		Address: net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}, Gateway: gw})
	if res.Default {
		_, all, _ := net.ParseCIDR("0.0.0.0/0")
		out.Routes = append(out.Routes, &types.Route{Dst: *all, GW: gw})
		out.DNS = types.DNS{Nameservers: res.DNS.Nameservers, Search: res.DNS.Search, Options: res.DNS.Options}
	}
	return out, nil
}

// checkPrev compares the attachment with the result the runtime kept
// (prevResult, which CHECK must be given).
func checkPrev(conf *netConf, res *api.CNIResult) error {
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "CHECK needs prevResult", "")
	}
	prev, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "prevResult cannot be read", err.Error())
	}
	for _, ip := range prev.IPs {
		if ip.Interface == nil || *ip.Interface >= len(prev.Interfaces) || prev.Interfaces[*ip.Interface].Name != res.Ifname {
			continue
		}
		if ip.Address.String() != res.Address {
			return types.NewError(types.ErrInternal, fmt.Sprintf("%s has %s, prevResult says %s", res.Ifname, res.Address, ip.Address.String()), "")
		}
		return nil
	}
	return types.NewError(types.ErrInternal, fmt.Sprintf("prevResult has no address on %s", res.Ifname), "")
}
