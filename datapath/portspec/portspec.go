// Package portspec parses Docker's -p syntax:
// [IP:][HOSTPORT[-END]:]CPORT[-END][/tcp|/udp|/sctp].
package portspec

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Spec is one parsed -p argument. A zero HostIP is every address; a zero
// HostFirst asks for a free port chosen by the node, as `docker run -p 80`.
type Spec struct {
	Proto      string // tcp, udp or sctp
	HostIP     netip.Addr
	HostFirst  uint16
	HostLast   uint16
	CPortFirst uint16
	CPortLast  uint16
}

// Mapping is one host port to one container port.
type Mapping struct {
	Proto    string
	HostIP   netip.Addr // zero: every address
	HostPort uint16     // zero: any free port
	CPort    uint16
}

// maxLen is well over the longest spec,
// 255.255.255.255:65535-65535:65535-65535/tcp: a longer one is refused
// before it is read, and never echoed whole in an error.
const maxLen = 64

// Parse reads one spec.
func Parse(s string) (Spec, error) {
	var sp Spec
	switch {
	case s == "":
		return sp, fmt.Errorf("empty port spec")
	case len(s) > maxLen:
		return sp, fmt.Errorf("port spec %.24q... is longer than %d bytes", s, maxLen)
	}
	rest, proto, hasProto := strings.Cut(s, "/")
	sp.Proto = "tcp"
	if hasProto {
		switch strings.ToLower(proto) {
		case "tcp", "udp", "sctp":
			sp.Proto = strings.ToLower(proto)
		default:
			return sp, fmt.Errorf("port spec %q: unknown protocol %q (tcp, udp or sctp)", s, proto)
		}
	}
	parts := strings.Split(rest, ":")
	var ip, host, cport string
	switch len(parts) {
	case 1:
		cport = parts[0]
	case 2:
		host, cport = parts[0], parts[1]
	case 3:
		ip, host, cport = parts[0], parts[1], parts[2]
	default:
		return sp, fmt.Errorf("port spec %q: want [IP:][HOSTPORT:]PORT[/PROTO] (IPv6 is not supported)", s)
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			return sp, fmt.Errorf("port spec %q: %q is not an IPv4 address", s, ip)
		}
		if !a.IsUnspecified() {
			sp.HostIP = a
		}
	}
	var err error
	if sp.CPortFirst, sp.CPortLast, err = parseRange(cport); err != nil {
		return sp, fmt.Errorf("port spec %q: container port: %w", s, err)
	}
	if host != "" {
		if sp.HostFirst, sp.HostLast, err = parseRange(host); err != nil {
			return sp, fmt.Errorf("port spec %q: host port: %w", s, err)
		}
		cn, hn := sp.CPortLast-sp.CPortFirst, sp.HostLast-sp.HostFirst
		if cn != 0 && cn != hn {
			return sp, fmt.Errorf("port spec %q: host range %d-%d and container range %d-%d differ in length",
				s, sp.HostFirst, sp.HostLast, sp.CPortFirst, sp.CPortLast)
		}
	}
	return sp, nil
}

func parseRange(s string) (uint16, uint16, error) {
	a, b, isRange := strings.Cut(s, "-")
	first, err := parsePort(a)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return first, first, nil
	}
	last, err := parsePort(b)
	if err != nil {
		return 0, 0, err
	}
	if last < first {
		return 0, 0, fmt.Errorf("range %s is reversed", s)
	}
	return first, last, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	if n == 0 || n > 65535 {
		return 0, fmt.Errorf("port %d is out of range (1-65535)", n)
	}
	return uint16(n), nil
}

// PickOne: a host range with a single container port publishes it on one
// free port of the range, as Docker does.
func (sp Spec) PickOne() bool {
	return sp.HostFirst != 0 && sp.HostFirst != sp.HostLast && sp.CPortFirst == sp.CPortLast
}

// Mappings expands a spec into one mapping per container port. For
// PickOne specs the host port is left to the caller (HostPort 0, with the
// range in the spec).
func (sp Spec) Mappings() []Mapping {
	// Sized up front: a range of all 65535 ports, grown by append, costs
	// 17 MB of garbage and 30 ms instead of one 3 MB slice.
	out := make([]Mapping, 0, int(sp.CPortLast)-int(sp.CPortFirst)+1)
	for c := uint32(sp.CPortFirst); c <= uint32(sp.CPortLast); c++ {
		m := Mapping{Proto: sp.Proto, HostIP: sp.HostIP, CPort: uint16(c)}
		if sp.HostFirst != 0 && !sp.PickOne() {
			m.HostPort = uint16(uint32(sp.HostFirst) + c - uint32(sp.CPortFirst))
		}
		out = append(out, m)
	}
	return out
}

// Matches says whether an unpublish spec selects a mapping: every part the
// spec names must agree.
func (sp Spec) Matches(m Mapping) bool {
	if sp.Proto != m.Proto || m.CPort < sp.CPortFirst || m.CPort > sp.CPortLast {
		return false
	}
	if sp.HostIP.IsValid() && sp.HostIP != m.HostIP {
		return false
	}
	if sp.HostFirst == 0 {
		return true
	}
	if sp.PickOne() {
		return m.HostPort >= sp.HostFirst && m.HostPort <= sp.HostLast
	}
	return uint32(m.HostPort) == uint32(sp.HostFirst)+uint32(m.CPort)-uint32(sp.CPortFirst)
}

// String is the mapping as `docker port` shows it.
func (m Mapping) String() string {
	ip := "0.0.0.0"
	if m.HostIP.IsValid() {
		ip = m.HostIP.String()
	}
	return fmt.Sprintf("%d/%s -> %s:%d", m.CPort, m.Proto, ip, m.HostPort)
}
