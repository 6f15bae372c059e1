package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

func networkListCommand() *cli.Command {
	return &cli.Command{
		Name: "ls", Aliases: []string{"list"}, Usage: "list networks",
		Flags: []cli.Flag{
			jsonFlag,
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only the names"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"},
				Usage: "name=, id=, driver=bridge, type=custom|builtin, dangling=true|false, scope=local, label="},
			&cli.StringFlag{Name: "format", Usage: "a Go template ({{.Name}}, ...), table TEMPLATE, table, or json"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "accepted for Docker's sake: nothing is truncated"},
		},
		Action: networkList,
	}
}

func networkList(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	filter, err := parseNetworkFilter(c.StringSlice("filter"))
	if errors.Is(err, errFilterFormat) {
		return newUsageError(c.Command, exitFlags, "%v", err)
	}
	if err != nil {
		return err
	}
	if c.Bool("json") && c.String("format") != "" {
		return newUsageError(c.Command, exitFlags, "--json and --format cannot be used together")
	}
	all, err := client(c).Networks(c.Context)
	if err != nil {
		return err
	}
	nets := slices.DeleteFunc(all, func(n api.Network) bool { return !filter.match(n) })
	switch format := c.String("format"); {
	case c.Bool("json"):
		return printJSON(nets)
	case format != "" && format != "table":
		return writeFormat(os.Stdout, format, networkHeaders, rowsOf(nets))
	case c.Bool("quiet"):
		// Names, not Docker's IDs: every command takes a network by name.
		for _, n := range nets {
			fmt.Println(n.Name)
		}
		return nil
	}
	t := newTable("NAME", "ID", "SUBNET", "GATEWAY", "BRIDGE", "MTU", "ICC", "INTERNAL", "MASQUERADE", "ENDPOINTS")
	for _, n := range nets {
		dev := n.Bridge
		if n.Parent != "" {
			// No bridge: the device its endpoints sit on, as Docker's driver names it.
			dev = fmt.Sprintf("%s:%s/%s", n.Driver, n.Parent, n.Mode)
		}
		t.row(n.Name, fmt.Sprint(n.ID), n.Subnet, n.Gateway, dev, fmt.Sprint(n.MTU), yesNo(n.ICC),
			yesNo(n.Internal), yesNo(n.Masquerade), fmt.Sprint(len(n.Endpoints)))
	}
	return t.flush()
}

// networkFilter is `docker network ls --filter`: the values of one key
// are or'ed, the keys and'ed.
type networkFilter map[string][]string

// errFilterFormat is a filter Docker's flag parsing refuses (exit 125).
var errFilterFormat = errors.New("bad format of filter (expected name=value)")

// parseNetworkFilter reads KEY=VALUE filters with Docker's keys, values
// and messages.
func parseNetworkFilter(args []string) (networkFilter, error) {
	f := networkFilter{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, errFilterFormat
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		f[k] = append(f[k], v)
	}
	for k, vs := range f {
		switch k {
		case "name", "id", "driver", "scope", "label":
		case "dangling":
			if len(vs) > 1 {
				return nil, fmt.Errorf(`got more than one value for filter key "dangling"`)
			}
			if !slices.Contains([]string{"0", "1", "true", "false"}, vs[0]) {
				return nil, fmt.Errorf(`invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`)
			}
		case "type":
			for _, v := range vs {
				if v != "builtin" && v != "custom" {
					return nil, fmt.Errorf("invalid filter: 'type'='%s'", v)
				}
			}
		default:
			return nil, fmt.Errorf("invalid filter '%s'", k)
		}
	}
	return f, nil
}

// match says whether a network passes every key of the filter.
func (f networkFilter) match(n api.Network) bool {
	id := strconv.FormatUint(uint64(n.ID), 10)
	builtin := n.Default
	dangling := !builtin && len(n.Endpoints) == 0
	for k, vs := range f {
		var ok bool
		switch k {
		case "name":
			ok = slices.ContainsFunc(vs, func(v string) bool { return matches(v, n.Name) })
		case "id":
			ok = slices.ContainsFunc(vs, func(v string) bool { return matches(v, id) })
		case "driver":
			ok = slices.Contains(vs, orBridge(n.Driver))
		case "scope":
			ok = slices.Contains(vs, "local")
		case "label":
			ok = false // networks carry no labels
		case "dangling":
			want, _ := strconv.ParseBool(vs[0])
			ok = dangling == want
		case "type":
			ok = slices.Contains(vs, map[bool]string{true: "builtin", false: "custom"}[builtin])
		}
		if !ok {
			return false
		}
	}
	return true
}

// matches is Docker's filter match: the value itself, or a regular
// expression found in it.
func matches(pattern, s string) bool {
	if pattern == s {
		return true
	}
	ok, err := regexp.MatchString(pattern, s)
	return err == nil && ok
}

// networkRow is a network as --format templates see it: Docker's field
// names (ID, Name, Driver, Scope, IPv4, IPv6, Internal, Labels, CreatedAt)
// and ebpfnet's own; {{json .}} is the network as --json shows it.
type networkRow struct{ n api.Network }

// orBridge is a driver's name: bridge for a network from before drivers.
func orBridge(driver string) string {
	if driver == "" {
		return "bridge"
	}
	return driver
}

func rowsOf(nets []api.Network) []any {
	out := make([]any, len(nets))
	for i, n := range nets {
		out[i] = networkRow{n}
	}
	return out
}

func (r networkRow) MarshalJSON() ([]byte, error) { return json.Marshal(r.n) }
func (r networkRow) ID() string                   { return strconv.FormatUint(uint64(r.n.ID), 10) }
func (r networkRow) Name() string                 { return r.n.Name }
func (r networkRow) Driver() string               { return orBridge(r.n.Driver) }
func (r networkRow) Scope() string                { return "local" }
func (r networkRow) IPv4() bool                   { return true }
func (r networkRow) IPv6() bool                   { return false }
func (r networkRow) Internal() bool               { return r.n.Internal }
func (r networkRow) Labels() string               { return "" }
func (r networkRow) CreatedAt() string            { return r.n.Created.Format(time.DateTime + " -0700 MST") }
func (r networkRow) Subnet() string               { return r.n.Subnet }
func (r networkRow) Gateway() string              { return r.n.Gateway }
func (r networkRow) IPRange() string              { return r.n.IPRange }
func (r networkRow) Bridge() string               { return r.n.Bridge }
func (r networkRow) MTU() int                     { return r.n.MTU }
func (r networkRow) ICC() bool                    { return r.n.ICC }
func (r networkRow) Masquerade() bool             { return r.n.Masquerade }
func (r networkRow) Default() bool                { return r.n.Default }
func (r networkRow) Endpoints() string            { return strings.Join(r.n.Endpoints, ",") }

// networkHeaders are the column titles of `table` formats.
var networkHeaders = map[string]string{
	"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4", "IPv6": "IPV6",
	"Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT", "Subnet": "SUBNET", "Gateway": "GATEWAY",
	"IPRange": "IP RANGE", "Bridge": "BRIDGE", "MTU": "MTU", "ICC": "ICC", "Masquerade": "MASQUERADE",
	"Default": "DEFAULT", "Endpoints": "ENDPOINTS",
}
