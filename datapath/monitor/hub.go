// Package monitor streams what the datapath does to `ebpfnet monitor`:
// it reads enet_events, where the programs write their verdicts, new
// flows and socket rewrites, and the flows the conntrack GC ends, and
// hands each event to every monitor whose filter it passes. The
// programs write events only while a monitor (or `bpf trace`) wants them:
// with none attached the datapath does what it did without this package.
// A monitor that does not keep up loses events, counted and shown to it;
// the datapath never waits for it.
package monitor

import (
	"errors"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Datapath is what the hub reads and sets of the maps.
type Datapath interface {
	Events() (maps.EventsBits, error)
	SetEvents(b maps.EventsBits) error
	// EventsLost is the count of events enet_events had no room for.
	EventsLost() (uint64, error)
}

// Hub is the one reader of enet_events and its monitors.
type Hub struct {
	dp     Datapath
	ring   *ebpf.Map
	names  func() (Names, error)
	log    *zap.Logger
	offset int64 // wall clock ns minus CLOCK_MONOTONIC ns

	mu     sync.Mutex
	subs   map[*Sub]struct{}
	trace  string // `bpf trace`'s mode: off, drops or all
	reader *ringbuf.Reader
	done   chan struct{} // closed when the reader's loop ends
	nm     *namer
}

// New is the hub of a datapath's enet_events; names resolves interfaces
// and addresses to what users call them.
func New(dp Datapath, ring *ebpf.Map, names func() (Names, error), log *zap.Logger) *Hub {
	return &Hub{dp: dp, ring: ring, names: names, log: log, subs: map[*Sub]struct{}{}, trace: "off",
		offset: time.Now().UnixNano() - int64(maps.MonotonicNs()), nm: &namer{load: names}}
}

// Start takes `bpf trace`'s mode from enet_config, which keeps it across
// restarts, and drops what monitors of an earlier daemon left there.
func (h *Hub) Start() error {
	b, err := h.dp.Events()
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case b.Verdicts:
		h.trace = "all"
	case b.Drops:
		h.trace = "drops"
	}
	return h.apply()
}

// SetTrace sets `bpf trace`'s mode, which holds beside the monitors'.
func (h *Hub) SetTrace(mode string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.trace = mode
	return h.apply()
}

// apply writes the union of what `bpf trace` and the monitors want to
// enet_config. Called with mu held.
func (h *Hub) apply() error {
	b := maps.EventsBits{Verdicts: h.trace == "all", Drops: h.trace == "drops"}
	for s := range h.subs {
		b.Verdicts = b.Verdicts || s.filter.wants(TypeVerdict)
		b.Drops = b.Drops || s.filter.wants(TypeDrop)
		b.Flows = b.Flows || s.filter.wants(TypeFlow)
	}
	return h.dp.SetEvents(b)
}

// Subscribe attaches a monitor. The first one starts the reader.
func (h *Hub) Subscribe(f Filter, buffer int) (*Sub, error) {
	s := &Sub{hub: h, filter: f, c: make(chan api.MonitorEvent, buffer), done: make(chan struct{}),
		since: maps.MonotonicNs()}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reader == nil && h.ring != nil { // no ring: the tests' hubs, fed by Publish
		r, err := ringbuf.NewReader(h.ring)
		if err != nil {
			return nil, err
		}
		h.reader, h.done = r, make(chan struct{})
		go h.read(r, h.done)
	}
	h.subs[s] = struct{}{}
	if err := h.apply(); err != nil {
		delete(h.subs, s)
		return nil, err
	}
	return s, nil
}

// Unsubscribe detaches a monitor; the last one stops the reader, and the
// programs write no more than `bpf trace` asks for.
func (h *Hub) Unsubscribe(s *Sub) {
	h.mu.Lock()
	if _, ok := h.subs[s]; !ok {
		h.mu.Unlock()
		return
	}
	delete(h.subs, s)
	close(s.done)
	if err := h.apply(); err != nil {
		h.log.Warn("monitor: set enet_config", logf.Err(err))
	}
	var r *ringbuf.Reader
	var done chan struct{}
	if len(h.subs) == 0 && h.reader != nil {
		r, done, h.reader = h.reader, h.done, nil
	}
	h.mu.Unlock()
	if r != nil {
		_ = r.Close()
		<-done
	}
}

// Close detaches every monitor.
func (h *Hub) Close() {
	h.mu.Lock()
	subs := make([]*Sub, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		h.Unsubscribe(s)
	}
}

// read hands every record of the ring to the monitors until the reader
// is closed, and the datapath's lost events with them, once a second.
func (h *Hub) read(r *ringbuf.Reader, done chan struct{}) {
	defer close(done)
	lostBase, _ := h.dp.EventsLost()
	lastCheck := time.Now()
	for {
		r.SetDeadline(time.Now().Add(time.Second))
		rec, err := r.Read()
		switch {
		case errors.Is(err, ringbuf.ErrClosed):
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
		case err != nil:
			h.log.Warn("monitor: read enet_events", logf.Err(err))
			continue
		default:
			h.dispatch(rec.RawSample)
		}
		if time.Since(lastCheck) >= time.Second {
			lastCheck = time.Now()
			if n, err := h.dp.EventsLost(); err == nil && n > lostBase {
				h.kernelLost(n - lostBase)
				lostBase = n
			}
		}
	}
}

func (h *Hub) dispatch(raw []byte) {
	ev, err := maps.DecodeEvent(raw)
	if err != nil {
		h.log.Warn("monitor: bad enet_events record", logf.Err(err))
		return
	}
	h.Publish(ev.MonotonicNs, h.view(ev))
}

// Publish hands an event to the monitors whose filter it passes and that
// were attached before it happened (mono: its CLOCK_MONOTONIC ns).
func (h *Hub) Publish(mono uint64, ev api.MonitorEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if mono >= s.since && s.filter.Match(ev) {
			s.send(ev)
		}
	}
}

// kernelLost tells every monitor of events the ring had no room for.
func (h *Hub) kernelLost(n uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.kernelLost.Add(n)
	}
}

// Active says whether a monitor is attached: the GC reports ended flows
// only then.
func (h *Hub) Active() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

// wall is the wall-clock time of a CLOCK_MONOTONIC instant.
func (h *Hub) wall(mono uint64) time.Time { return time.Unix(0, int64(mono)+h.offset).UTC() }
