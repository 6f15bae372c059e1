package maps

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/loader"
)

// CTTimeouts are conntrack timeouts by name. A name is netfilter's sysctl
// without its prefix, dashed: tcp-established is
// nf_conntrack_tcp_timeout_established, udp-stream
// nf_conntrack_udp_timeout_stream. What a CTTimeouts lacks takes
// netfilter's default.
type CTTimeouts map[string]time.Duration

type ctTimeout struct {
	name  string
	def   time.Duration
	field func(*loader.EnetConfig) *uint32
}

// ctTimeouts are the timeouts of enet_config with netfilter's defaults
// (nf_conntrack_proto_tcp.c, _udp.c, _icmp.c, _generic.c: protocols
// without ports, GRE, ESP, ...).
var ctTimeouts = []ctTimeout{
	{"tcp-syn-sent", 2 * time.Minute, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutTcpSynSent }},
	{"tcp-syn-recv", time.Minute, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutTcpSynRecv }},
	{"tcp-established", 5 * 24 * time.Hour, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutTcpEstablished }},
	{"tcp-fin-wait", 2 * time.Minute, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutTcpFinWait }},
	{"tcp-close-wait", time.Minute, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutTcpCloseWait }},
	{"tcp-last-ack", 30 * time.Second, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutTcpLastAck }},
	{"tcp-time-wait", 2 * time.Minute, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutTcpTimeWait }},
	{"tcp-close", 10 * time.Second, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutTcpClose }},
	{"tcp-unacknowledged", 5 * time.Minute, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutTcpUnacknowledged }},
	{"udp", 30 * time.Second, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutUdp }},
	{"udp-stream", 2 * time.Minute, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutUdpStream }},
	{"icmp", 30 * time.Second, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutIcmp }},
	{"generic", 10 * time.Minute, func(c *loader.EnetConfig) *uint32 { return &c.TimeoutGeneric }},
}

// CTTimeoutNames lists the names a CTTimeouts may hold, in enet_config's
// order.
func CTTimeoutNames() []string {
	names := make([]string, len(ctTimeouts))
	for i, t := range ctTimeouts {
		names[i] = t.name
	}
	return names
}

// DefaultCTTimeouts are netfilter's defaults.
func DefaultCTTimeouts() CTTimeouts {
	d := CTTimeouts{}
	for _, t := range ctTimeouts {
		d[t.name] = t.def
	}
	return d
}

// ParseCTTimeouts reads NAME=DURATION settings (`daemon start
// --ct-timeout`); a duration is Go's (2m, 432000s) or whole seconds, as
// the sysctls take them.
func ParseCTTimeouts(specs []string) (CTTimeouts, error) {
	out := CTTimeouts{}
	for _, s := range specs {
		name, val, ok := strings.Cut(s, "=")
		if !ok || !validCTTimeout(name) {
			return nil, fmt.Errorf("conntrack timeout %q: want NAME=DURATION, NAME one of %s", s, strings.Join(CTTimeoutNames(), ", "))
		}
		d, err := time.ParseDuration(val)
		if n, nerr := strconv.ParseUint(val, 10, 32); nerr == nil {
			d, err = time.Duration(n)*time.Second, nil
		}
		if err != nil || d < time.Second || d%time.Second != 0 || d/time.Second > math.MaxUint32 {
			return nil, fmt.Errorf("conntrack timeout %q: want whole seconds, at least 1s", s)
		}
		out[name] = d
	}
	return out, nil
}

func validCTTimeout(name string) bool {
	for _, t := range ctTimeouts {
		if t.name == name {
			return true
		}
	}
	return false
}

// Apply writes the timeouts into c, netfilter's default for each t lacks.
func (t CTTimeouts) Apply(c *loader.EnetConfig) {
	for _, ct := range ctTimeouts {
		d, ok := t[ct.name]
		if !ok {
			d = ct.def
		}
		*ct.field(c) = uint32(d / time.Second)
	}
}
