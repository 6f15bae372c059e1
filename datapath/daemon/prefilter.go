package daemon

import (
	"context"
	"errors"
	"net/netip"
	"slices"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Prefilters lists enet_prefilter.
func (b backend) Prefilters(context.Context) ([]api.Prefilter, error) {
	all, err := b.d.maps.Prefilter.All()
	out := make([]api.Prefilter, 0, len(all))
	for _, e := range all {
		out = append(out, api.Prefilter{Prefix: e.Prefix.String(), Packets: e.Packets, Bytes: e.Bytes})
	}
	slices.SortFunc(out, func(x, y api.Prefilter) int {
		return netip.MustParsePrefix(x.Prefix).Addr().Compare(netip.MustParsePrefix(y.Prefix).Addr())
	})
	return out, err
}

// parsePrefixes reads IPv4 prefixes (an address alone is its /32); each
// is taken as its network, as `ip route` takes 10.0.0.1/8.
func parsePrefixes(in []string) ([]netip.Prefix, error) {
	if len(in) == 0 {
		return nil, errdefs.Invalid("no prefix given")
	}
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, errdefs.Invalid("prefix %q: want an IPv4 CIDR or address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if !p.Addr().Is4() {
			return nil, errdefs.Invalid("prefix %q: ebpfnet is IPv4 only", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// AddPrefilters adds prefixes; those there already keep their counts.
// The datapath drops their sources from the next packet on: the program
// stays attached.
func (b backend) AddPrefilters(ctx context.Context, req api.Prefixes) ([]api.Prefilter, error) {
	ps, err := parsePrefixes(req.Prefixes)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if _, err := b.d.maps.Prefilter.Add(p); errors.Is(err, maps.ErrPrefilterFull) {
			return nil, errdefs.Limit("the prefilter is full: it holds at most 100000 prefixes")
		} else if err != nil {
			return nil, err
		}
	}
	all, err := b.Prefilters(ctx)
	out := all[:0]
	for _, e := range all {
		if slices.Contains(ps, netip.MustParsePrefix(e.Prefix)) {
			out = append(out, e)
		}
	}
	return out, err
}

// RemovePrefilters removes prefixes; one not there is an error, after
// the others are removed.
func (b backend) RemovePrefilters(_ context.Context, req api.Prefixes) error {
	ps, err := parsePrefixes(req.Prefixes)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range ps {
		ok, err := b.d.maps.Prefilter.Remove(p)
		if err == nil && !ok {
			err = errdefs.NotFound("prefix %s is not in the prefilter", p)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
