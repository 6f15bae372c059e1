package metrics

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

func itoa(i int) string { return strconv.Itoa(i) }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// datapathCollector reads enet_stats and the maps' fill at each scrape.
type datapathCollector struct {
	src                        Source
	log                        *zap.Logger
	packets, bytes, drops      *prometheus.Desc
	entries, capacity, evicted *prometheus.Desc
}

func newDatapathCollector(src Source, log *zap.Logger) *datapathCollector {
	return &datapathCollector{src: src, log: log,
		packets: desc("datapath_packets_total", "Packets the datapath's programs decided on, by interface, "+
			"endpoint and reason (the path they took, or why they were dropped), as `ebpfnet bpf stats` names them.",
			"interface", "endpoint", "reason"),
		bytes: desc("datapath_bytes_total", "Bytes of those packets.", "interface", "endpoint", "reason"),
		drops: desc("datapath_drops_total", "Packets the datapath dropped, by interface, endpoint and reason "+
			"(the drop-* reasons of datapath_packets_total).", "interface", "endpoint", "reason"),
		entries:  desc("map_entries", "Entries in a datapath map now.", "map"),
		capacity: desc("map_max_entries", "The entries a datapath map holds at most.", "map"),
		evicted: desc("datapath_flows_evicted_total", "Packets of flows that lost their entry to a full "+
			"enet_ct or enet_nat (flow-evicted)."),
	}
}

func (c *datapathCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.packets, c.bytes, c.drops, c.entries, c.capacity, c.evicted} {
		ch <- d
	}
}

func (c *datapathCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := scrapeContext()
	defer cancel()
	counters, err := c.src.BPFStats(ctx)
	if err != nil {
		warnScrape(c.log, "enet_stats", err)
	}
	var evicted uint64
	for _, k := range counters {
		labels := []string{ifLabel(k), k.Endpoint, k.Reason}
		ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(k.Packets), labels...)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(k.Bytes), labels...)
		if k.Drop {
			ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(k.Packets), labels...)
		}
		if k.Reason == "flow-evicted" {
			evicted += k.Packets
		}
	}
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(evicted))
	fill, err := c.src.MapFill(ctx)
	if err != nil {
		warnScrape(c.log, "map fill", err)
	}
	for _, m := range fill {
		ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(m.Entries), m.Name)
		ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(m.MaxEntries), m.Name)
	}
}

// ifLabel names a counter's interface; one deleted since is its index.
func ifLabel(k api.BPFCounter) string {
	if k.Interface != "" {
		return k.Interface
	}
	return "ifindex:" + itoa(k.Ifindex)
}

// stateCollector counts what the store holds at each scrape.
type stateCollector struct {
	src                          Source
	log                          *zap.Logger
	networks, endpoints, publics *prometheus.Desc
}

func newStateCollector(src Source, log *zap.Logger) *stateCollector {
	return &stateCollector{src: src, log: log,
		networks: desc("networks", "Networks, by driver.", "driver"),
		endpoints: desc("endpoints", "Endpoints, by state (ready, gone, removing) and mode (networks, none, "+
			"host, container).", "state", "mode"),
		publics: desc("publications", "Published ports, by protocol.", "proto"),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.networks
	ch <- c.endpoints
	ch <- c.publics
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := scrapeContext()
	defer cancel()
	nets, err := c.src.Networks(ctx)
	if err != nil {
		warnScrape(c.log, "networks", err)
	}
	byDriver := map[string]int{"bridge": 0}
	for _, n := range nets {
		byDriver[n.Driver]++
	}
	for d, n := range byDriver {
		ch <- prometheus.MustNewConstMetric(c.networks, prometheus.GaugeValue, float64(n), d)
	}
	eps, err := c.src.Endpoints(ctx)
	if err != nil {
		warnScrape(c.log, "endpoints", err)
	}
	type key struct{ state, mode string }
	byKey, byProto := map[key]int{{"ready", "networks"}: 0}, map[string]int{"tcp": 0, "udp": 0}
	for _, e := range eps {
		mode, _, _ := strings.Cut(e.Mode, ":")
		if mode == "" {
			mode = "networks"
		}
		byKey[key{e.State, mode}]++
		if mode == "container" {
			continue // its ports are its owner's
		}
		for _, p := range e.Ports {
			byProto[p.Proto]++
		}
	}
	for k, n := range byKey {
		ch <- prometheus.MustNewConstMetric(c.endpoints, prometheus.GaugeValue, float64(n), k.state, k.mode)
	}
	for p, n := range byProto {
		ch <- prometheus.MustNewConstMetric(c.publics, prometheus.GaugeValue, float64(n), p)
	}
}
