package resolver

import "sync/atomic"

// Stats counts what the resolver did with the queries it got.
type Stats struct {
	Queries   atomic.Uint64 // reached the handler from an endpoint
	Local     atomic.Uint64 // answered from the networks' names
	NXDomain  atomic.Uint64 // of the local answers: no such name
	NoData    atomic.Uint64 // of the local answers: the name, but no record of the type
	Forwarded atomic.Uint64 // answered by an upstream
	ServFail  atomic.Uint64 // no upstream answered, or none to ask
	Busy      atomic.Uint64 // of the SERVFAILs: too many queries upstream already
	Truncated atomic.Uint64 // answers cut to the asker's UDP size (TC set)
	Refused   atomic.Uint64 // ANY for a name not local, or a class other than IN, or not a query
	Outside   atomic.Uint64 // dropped unanswered: the source is no endpoint of the network
	Malformed atomic.Uint64 // could not be parsed, or not one question
}

// Counts is a snapshot of Stats, by the names `ebpfnet dns stats` shows.
func (s *Stats) Counts() map[string]uint64 {
	return map[string]uint64{
		"queries": s.Queries.Load(), "local": s.Local.Load(), "nxdomain": s.NXDomain.Load(),
		"nodata": s.NoData.Load(), "forwarded": s.Forwarded.Load(), "servfail": s.ServFail.Load(),
		"forward-busy": s.Busy.Load(), "truncated": s.Truncated.Load(), "refused": s.Refused.Load(),
		"outside-source": s.Outside.Load(), "malformed": s.Malformed.Load(),
	}
}
