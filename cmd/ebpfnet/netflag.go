package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// endpointNetworks reads the --network flags, each a network's name or
// Docker's name=NET,ip=IP,alias=A,alias=B, and --ip, which, as in docker run, is the
// first network's address. No --network is the default network.
func endpointNetworks(flags []string, ip string) ([]api.EndpointNetwork, error) {
	if len(flags) == 0 {
		return []api.EndpointNetwork{{IP: ip}}, nil
	}
	var out []api.EndpointNetwork
	for _, f := range flags {
		n, err := parseNetworkFlag(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if ip != "" {
		if out[0].IP != "" {
			return nil, errors.New("conflicting options: cannot specify both --ip and per-network IPv4 address")
		}
		out[0].IP = ip
	}
	return out, nil
}

// unsupportedNetworkFields are the keys of docker run's --network that
// ebpfnet does not take (yet), with why (docs/cli.md).
var unsupportedNetworkFields = map[string]string{
	"ip6":           "ebpfnet is IPv4 only",
	"link-local-ip": "ebpfnet is IPv4 only",
	"mac-address":   "the MAC follows the address",
	"driver-opt":    "the bridge driver takes none",
	"gw-priority":   "the first --network has the default route",
}

func parseNetworkFlag(f string) (api.EndpointNetwork, error) {
	if !strings.Contains(f, "=") {
		return api.EndpointNetwork{Name: f}, nil
	}
	fields, err := csv.NewReader(strings.NewReader(f)).Read()
	if err != nil {
		return api.EndpointNetwork{}, fmt.Errorf("--network %q: %w", f, err)
	}
	var n api.EndpointNetwork
	for _, field := range fields {
		k, v, ok := strings.Cut(field, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok || k == "":
			return n, fmt.Errorf("invalid field %s", field)
		case k == "name":
			n.Name = v
		case k == "ip":
			n.IP = v
		case k == "alias":
			n.Aliases = append(n.Aliases, v)
		case unsupportedNetworkFields[k] != "":
			return n, fmt.Errorf("--network field %s is not supported: %s", k, unsupportedNetworkFields[k])
		default:
			return n, fmt.Errorf("invalid field key %s", k)
		}
	}
	if n.Name == "" {
		return n, errors.New("network name/id is not specified")
	}
	return n, nil
}
