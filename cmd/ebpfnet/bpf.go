package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

func bpfCommand() *cli.Command {
	return &cli.Command{
		Name:  "bpf",
		Usage: "what the datapath's maps hold",
		Subcommands: []*cli.Command{
			{Name: "endpoints", Usage: "enet_endpoints: address -> delivery", Flags: []cli.Flag{jsonFlag}, Action: bpfEndpoints},
			{Name: "networks", Usage: "enet_networks: network id -> subnet, gateway, flags", Flags: []cli.Flag{jsonFlag}, Action: bpfNetworks},
			{Name: "stats", Usage: "enet_stats: packets per interface and verdict", Flags: []cli.Flag{jsonFlag}, Action: bpfStats},
			{Name: "ct", Usage: "enet_ct: tracked flows, state, time left, counters", Flags: []cli.Flag{jsonFlag}, Action: bpfCT},
			{Name: "nat", Usage: "enet_nat: live address and port translations, both directions, with their flow's state, time left, counters", Flags: []cli.Flag{jsonFlag}, Action: bpfNAT},
			{Name: "ports", Usage: "enet_ports: published ports -> endpoint address and port", Flags: []cli.Flag{jsonFlag}, Action: bpfPorts},
			{Name: "trace", Usage: "write verdicts to the enet_events ring buffer", ArgsUsage: "off|drops|all", Action: bpfTrace},
		},
	}
}

func bpfEndpoints(c *cli.Context) error {
	rows, err := client(c).BPF().Endpoints(c.Context)
	if err != nil || c.Bool("json") {
		return orJSON(rows, err)
	}
	t := newTable("IP", "IFINDEX", "INTERFACE", "MAC", "NETWORK", "ENDPOINT")
	for _, r := range rows {
		t.row(r.IP, fmt.Sprint(r.Ifindex), orDash(r.Interface), r.MAC, fmt.Sprintf("%s(%d)", orDash(r.Network), r.NetID), orDash(r.Endpoint))
	}
	return t.flush()
}

func bpfNetworks(c *cli.Context) error {
	rows, err := client(c).BPF().Networks(c.Context)
	if err != nil || c.Bool("json") {
		return orJSON(rows, err)
	}
	t := newTable("ID", "NETWORK", "SUBNET", "GATEWAY", "GATEWAY-MAC", "BRIDGE-IFINDEX", "ICC", "INTERNAL", "MASQUERADE")
	for _, r := range rows {
		t.row(fmt.Sprint(r.ID), orDash(r.Network), r.Subnet, r.Gateway, r.GatewayMAC, fmt.Sprint(r.BridgeIfindex),
			yesNo(r.ICC), yesNo(r.Internal), yesNo(r.Masquerade))
	}
	return t.flush()
}

func bpfStats(c *cli.Context) error {
	rows, err := client(c).BPF().Stats(c.Context)
	if err != nil || c.Bool("json") {
		return orJSON(rows, err)
	}
	t := newTable("ENDPOINT", "INTERFACE", "IFINDEX", "VERDICT", "PACKETS", "BYTES")
	for _, r := range rows {
		t.row(orDash(r.Endpoint), orDash(r.Interface), fmt.Sprint(r.Ifindex), r.Reason, fmt.Sprint(r.Packets), fmt.Sprint(r.Bytes))
	}
	return t.flush()
}

func bpfTrace(c *cli.Context) error {
	a, err := exactArgs(c, 1)
	if err != nil {
		return err
	}
	if err := client(c).BPF().SetTrace(c.Context, api.Trace{Mode: a[0]}); err != nil {
		return err
	}
	fmt.Println("trace:", a[0])
	return nil
}

func bpfCT(c *cli.Context) error {
	rows, err := client(c).BPF().CT(c.Context)
	if err != nil || c.Bool("json") {
		return orJSON(rows, err)
	}
	t := newTable("PROTO", "SRC", "DST", "REPLY-SRC", "REPLY-DST", "STATE", "FLAGS", "ENDPOINT", "TTL", "PKTS", "BYTES")
	for _, r := range rows {
		t.row(r.Proto, r.Src, r.Dst, r.ReplySrc, r.ReplyDst, r.State, orDash(strings.Join(r.Flags, ",")), orDash(r.Endpoint),
			fmt.Sprintf("%.0fs", r.TTLSeconds), fmt.Sprintf("%d/%d", r.PacketsOrig, r.PacketsReply),
			fmt.Sprintf("%d/%d", r.BytesOrig, r.BytesReply))
	}
	return t.flush()
}

func bpfNAT(c *cli.Context) error {
	rows, err := client(c).BPF().NAT(c.Context)
	if err != nil || c.Bool("json") {
		return orJSON(rows, err)
	}
	t := newTable("PROTO", "FROM", "TO", "DIRECTION", "STATE", "TTL", "PKTS", "BYTES", "HOST")
	for _, r := range rows {
		t.row(r.Proto, r.FromSrc+" -> "+r.FromDst, r.ToSrc+" -> "+r.ToDst, r.Direction, r.State,
			fmt.Sprintf("%.0fs", r.TTLSeconds), fmt.Sprint(r.Packets), fmt.Sprint(r.Bytes), yesNo(r.Host))
	}
	return t.flush()
}

func bpfPorts(c *cli.Context) error {
	rows, err := client(c).BPF().Ports(c.Context)
	if err != nil || c.Bool("json") {
		return orJSON(rows, err)
	}
	t := newTable("PROTO", "HOST-IP", "HOST-PORT", "TARGET", "ENDPOINT")
	for _, r := range rows {
		t.row(r.Proto, r.HostIP, fmt.Sprint(r.HostPort), r.Target, orDash(r.Endpoint))
	}
	return t.flush()
}
