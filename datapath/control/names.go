package control

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"regexp"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// Names of what ebpfnet creates.
const (
	DefaultNetwork = "bridge" // Docker's name for its default network
	DefaultBridge  = "enet0"  // its docker0
	vethPrefix     = "enetv"
	bridgePrefix   = "enet-"
)

// nameRE is Docker's rule for container and network names; a name is also
// a file name under /run/netns, so it can hold no path separator.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

const maxNameLen = 64

func checkName(kind, name string) error {
	switch {
	case name == "":
		return errdefs.Invalid("%s name is empty", kind)
	case len(name) > maxNameLen:
		return errdefs.Invalid("%s name %.20q... is longer than %d bytes", kind, name, maxNameLen)
	case !nameRE.MatchString(name):
		return errdefs.Invalid("%s name %q is invalid: use letters, digits and _.- and start with a letter or digit", kind, name)
	}
	return nil
}

// checkIfname applies the kernel's rules for interface names.
func checkIfname(name string) error {
	switch {
	case name == "":
		return errdefs.Invalid("interface name is empty")
	case len(name) > 15:
		return errdefs.Invalid("interface name %q is longer than 15 bytes", name)
	case name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n"):
		return errdefs.Invalid("interface name %q is invalid", name)
	}
	return nil
}

// maxCIDRLen is the longest IPv4 CIDR: anything longer is refused before
// it is parsed, and not echoed whole in the error.
const maxCIDRLen = len("255.255.255.255/32")

// ParsePrefix reads an IPv4 CIDR with no host bits set.
func ParsePrefix(what, s string) (netip.Prefix, error) {
	if len(s) > maxCIDRLen {
		return netip.Prefix{}, errdefs.Invalid("%s %.24q... is not an IPv4 CIDR such as 10.1.0.0/24", what, s)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, errdefs.Invalid("%s %q is not an IPv4 CIDR such as 10.1.0.0/24", what, s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, errdefs.Invalid("%s %s has host bits set: did you mean %s?", what, s, p.Masked())
	}
	return p, nil
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)[:n]
}

// endpointMAC derives a MAC from the address, as Docker did for years:
// stable for an address, so neighbours' caches stay right when it is reused.
func endpointMAC(ip netip.Addr) net.HardwareAddr {
	a := ip.As4()
	return net.HardwareAddr{0x02, 0x42, a[0], a[1], a[2], a[3]}
}

// bridgeMAC is the gateway's MAC, fixed so the bridge does not take on a
// port's address as ports come and go.
func bridgeMAC(gw netip.Addr) net.HardwareAddr {
	a := gw.As4()
	return net.HardwareAddr{0x02, 0x45, a[0], a[1], a[2], a[3]}
}

// parseMAC checks a MAC asked for an interface: a unicast address, as a
// veth takes; empty stays empty (derive one).
func parseMAC(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	mac, err := net.ParseMAC(s)
	switch {
	case err != nil || len(mac) != 6:
		return "", errdefs.Invalid("mac %.24q is not an Ethernet address such as 02:42:0a:00:00:02", s)
	case mac[0]&1 == 1:
		return "", errdefs.Invalid("mac %s is a multicast address", s)
	case mac.String() == "00:00:00:00:00:00":
		return "", errdefs.Invalid("mac %s is all zeros", s)
	}
	return mac.String(), nil
}

// aliasRE is a DNS name of letters, digits, _ and -, in labels split by
// dots: what a resolver can be asked for.
var aliasRE = regexp.MustCompile(`^[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?)*$`)

// maxAlias is the longest alias: a DNS name, less room for the
// ".network" suffix the resolver also answers to.
const maxAlias = 190

// checkAliases validates a network's aliases of an endpoint and drops
// repeats, which names match case-insensitively as the resolver does.
func checkAliases(aliases []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, a := range aliases {
		switch {
		case len(a) > maxAlias:
			return nil, errdefs.Invalid("alias %.20q... is longer than %d bytes", a, maxAlias)
		case !aliasRE.MatchString(a) || hasLongLabel(a):
			return nil, errdefs.Invalid("alias %q is not a DNS name: use letters, digits, _ and -, in labels of at most 63 bytes split by dots", a)
		case seen[strings.ToLower(a)]:
			continue
		}
		seen[strings.ToLower(a)] = true
		out = append(out, a)
	}
	return out, nil
}

func hasLongLabel(name string) bool {
	for l := range strings.SplitSeq(name, ".") {
		if len(l) > 63 {
			return true
		}
	}
	return false
}

// resolvWordRE is a search domain or resolv.conf option: one word.
var resolvWordRE = regexp.MustCompile(`^[!-~]{1,253}$`)

// checkDNSConf validates docker run's --dns, --dns-search and
// --dns-option: servers are IPv4 addresses, the others single words of a
// resolv.conf line.
func checkDNSConf(c api.DNSConf) (store.DNSConf, error) {
	const max = 16
	if len(c.Servers) > max || len(c.Search) > max || len(c.Options) > max {
		return store.DNSConf{}, errdefs.Invalid("at most %d each of dns servers, search domains and options", max)
	}
	for _, s := range c.Servers {
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			return store.DNSConf{}, errdefs.Invalid("dns server %.40q is not an IPv4 address", s)
		}
	}
	for _, w := range append(append([]string{}, c.Search...), c.Options...) {
		if !resolvWordRE.MatchString(w) {
			return store.DNSConf{}, errdefs.Invalid("dns search domain or option %.40q is not one word of printable characters", w)
		}
	}
	return store.DNSConf{Servers: c.Servers, Search: c.Search, Options: c.Options}, nil
}
