package ipam

import (
	"errors"
	"net/netip"
	"testing"
)

func usedMap(addrs ...string) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, a := range addrs {
		m[netip.MustParseAddr(a)] = true
	}
	return m
}

func usedSet(addrs ...string) func(netip.Addr) bool {
	m := usedMap(addrs...)
	return func(a netip.Addr) bool { return m[a] }
}

func TestNext(t *testing.T) {
	pool := Pool{Subnet: netip.MustParsePrefix("10.0.0.0/29"), Gateway: netip.MustParseAddr("10.0.0.1")}
	ranged := pool
	ranged.Range = netip.MustParsePrefix("10.0.0.4/30")
	tests := []struct {
		name string
		pool Pool
		last string
		used []string
		want string
		err  error
	}{
		{"first after gateway", pool, "", nil, "10.0.0.2", nil},
		{"in order", pool, "10.0.0.2", []string{"10.0.0.2"}, "10.0.0.3", nil},
		{"freed address not reused at once", pool, "10.0.0.3", []string{"10.0.0.3"}, "10.0.0.4", nil},
		{"skip used", pool, "10.0.0.2", []string{"10.0.0.3", "10.0.0.4"}, "10.0.0.5", nil},
		{"wrap around", pool, "10.0.0.6", []string{"10.0.0.6"}, "10.0.0.2", nil},
		{"never broadcast", pool, "10.0.0.5", []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"}, "10.0.0.6", nil},
		{"full", pool, "10.0.0.6", []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}, "", ErrFull},
		{"range start", ranged, "", nil, "10.0.0.4", nil},
		{"range end excludes broadcast", ranged, "10.0.0.6", []string{"10.0.0.4", "10.0.0.5"}, "10.0.0.6", nil},
		{"range full", ranged, "", []string{"10.0.0.4", "10.0.0.5", "10.0.0.6"}, "", ErrFull},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var last netip.Addr
			if tc.last != "" {
				last = netip.MustParseAddr(tc.last)
			}
			got, err := tc.pool.Next(last, usedSet(tc.used...))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if tc.err == nil && got != netip.MustParseAddr(tc.want) {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCheckStatic(t *testing.T) {
	pool := Pool{
		Subnet:  netip.MustParsePrefix("10.0.0.0/24"),
		Range:   netip.MustParsePrefix("10.0.0.128/25"),
		Gateway: netip.MustParseAddr("10.0.0.1"),
	}
	used := usedSet("10.0.0.7")
	for addr, ok := range map[string]bool{
		"10.0.0.5":   true, // outside the range but inside the subnet
		"10.0.0.200": true,
		"10.0.0.0":   false,
		"10.0.0.255": false,
		"10.0.0.1":   false,
		"10.0.0.7":   false,
		"10.0.1.5":   false,
	} {
		err := pool.CheckStatic(netip.MustParseAddr(addr), used)
		if (err == nil) != ok {
			t.Errorf("%s: err = %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestUse(t *testing.T) {
	pool := Pool{Subnet: netip.MustParsePrefix("10.0.0.0/29"), Gateway: netip.MustParseAddr("10.0.0.1")}
	ranged := pool
	ranged.Range = netip.MustParsePrefix("10.0.0.4/30")
	tests := []struct {
		name        string
		pool        Pool
		used        []string
		taken, free int
	}{
		{"empty", pool, nil, 0, 5},
		{"some", pool, []string{"10.0.0.2", "10.0.0.6"}, 2, 3},
		{"full", pool, []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}, 5, 0},
		{"range, static address outside it", ranged, []string{"10.0.0.2", "10.0.0.4"}, 1, 2},
		{"range without the gateway", Pool{Subnet: ranged.Subnet, Range: ranged.Range, Gateway: netip.MustParseAddr("10.0.0.2")},
			nil, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			used := usedMap(tc.used...)
			taken, free := tc.pool.Use(used)
			if taken != tc.taken || free != tc.free {
				t.Fatalf("Use = %d taken, %d free; want %d, %d", taken, free, tc.taken, tc.free)
			}
			// Next agrees: a pool with nothing free is full.
			_, err := tc.pool.Next(netip.Addr{}, func(a netip.Addr) bool { return used[a] })
			if (tc.free == 0) != errors.Is(err, ErrFull) {
				t.Fatalf("%d free, but Next says %v", tc.free, err)
			}
		})
	}
}
