package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MonitorFilter is what `ebpfnet monitor` asks for (GET /v1/monitor):
// event types (drop, verdict, flow; none: all) and those of an endpoint,
// a network, a protocol or a port.
type MonitorFilter struct {
	Types    []string `json:"types,omitempty"`
	Endpoint string   `json:"endpoint,omitempty"`
	Network  string   `json:"network,omitempty"`
	Proto    string   `json:"proto,omitempty"`
	Port     uint16   `json:"port,omitempty"`
}

// MonitorEvent is one line of `ebpfnet monitor --json`.
type MonitorEvent struct {
	Time time.Time `json:"time"`
	// Type is drop, verdict, flow (a new flow), flow-end, socket (a
	// socket rewrite), lost, or attached (the stream's first line).
	Type      string `json:"type"`
	Program   string `json:"program,omitempty"`   // the program that wrote it: enet_from_ep, ...
	Interface string `json:"interface,omitempty"` // where it ran
	Endpoint  string `json:"endpoint,omitempty"`  // whose packet or flow
	Peer      string `json:"peer,omitempty"`      // the endpoint it went to, if another
	Network   string `json:"network,omitempty"`
	Proto     string `json:"proto,omitempty"`
	Src       string `json:"src,omitempty"` // as it came: IP:PORT (ICMP: IP:ID)
	Dst       string `json:"dst,omitempty"`
	XSrc      string `json:"xlated_src,omitempty"` // as translated
	XDst      string `json:"xlated_dst,omitempty"`
	// Translation is what changed the tuple: masquerade, dnat, hairpin,
	// node (the node's own flow), socket or dns (a socket rewrite).
	Translation string `json:"translation,omitempty"`
	Verdict     string `json:"verdict,omitempty"` // forward, pass or drop
	Reason      string `json:"reason,omitempty"`  // as bpf stats names it
	Target      string `json:"target,omitempty"`  // the interface it was redirected to
	Len         int    `json:"len,omitempty"`
	// Packets, Bytes (both directions) and Seconds are a flow-end's.
	Packets uint64  `json:"packets,omitempty"`
	Bytes   uint64  `json:"bytes,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	// Lost events, by the monitor falling behind (reader) or the
	// datapath's ring buffer being full (datapath), since the last lost
	// line.
	Lost   uint64 `json:"lost,omitempty"`
	LostBy string `json:"lost_by,omitempty"`
}

// MonitorStream is a monitor attached to the daemon's datapath events.
type MonitorStream interface {
	Events() <-chan MonitorEvent
	// Done is closed when the daemon lets the monitor go.
	Done() <-chan struct{}
	// Lost counts the events the monitor lost, by falling behind and to a
	// full ring in the datapath.
	Lost() (reader, datapath uint64)
	Close()
}

// monitorFlush is how often a stream's lines are flushed to the client
// and its losses reported.
const monitorFlush = 200 * time.Millisecond

// serveMonitor streams a monitor's events as JSON lines
// (GET /v1/monitor?type=drop&endpoint=NAME&network=NAME&proto=P&port=N):
// an "attached" line first, then one object a line, and a "lost" line
// whenever events were lost since the last.
func serveMonitor(b Backend) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := monitorFilterOf(r.URL.Query())
		if err != nil {
			writeError(w, err)
			return
		}
		s, err := b.Monitor(r.Context(), f)
		if err != nil {
			writeError(w, err)
			return
		}
		defer s.Close()
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		streamEvents(r.Context(), w, s)
	})
}

func streamEvents(ctx context.Context, w http.ResponseWriter, s MonitorStream) {
	flusher, _ := w.(http.Flusher)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	tick := time.NewTicker(monitorFlush)
	defer tick.Stop()
	var told [2]uint64
	// The first line says the monitor is attached: what happens from
	// now on reaches it.
	if enc.Encode(MonitorEvent{Time: time.Now().UTC(), Type: "attached"}) != nil || bw.Flush() != nil {
		return
	}
	if flusher != nil {
		flusher.Flush()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.Done():
			_ = bw.Flush()
			return
		case ev := <-s.Events():
			if enc.Encode(ev) != nil {
				return
			}
		case <-tick.C:
			reader, datapath := s.Lost()
			for i, n := range [2]uint64{reader, datapath} {
				if n > told[i] {
					by := [2]string{"reader", "datapath"}[i]
					_ = enc.Encode(MonitorEvent{Time: time.Now().UTC(), Type: "lost", Lost: n - told[i], LostBy: by})
					told[i] = n
				}
			}
			if bw.Flush() != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}

func monitorFilterOf(q url.Values) (MonitorFilter, error) {
	f := MonitorFilter{Endpoint: q.Get("endpoint"), Network: q.Get("network"), Proto: q.Get("proto")}
	for _, t := range q["type"] {
		f.Types = append(f.Types, strings.Split(t, ",")...)
	}
	if p := q.Get("port"); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return f, badRequest("port %q: want 1-65535", p)
		}
		f.Port = uint16(n)
	}
	return f, nil
}

// MonitorReader reads a monitor's stream.
type MonitorReader struct {
	body io.ReadCloser
	dec  *json.Decoder
}

// Monitor attaches a monitor; read its events with Next until ctx ends,
// then Close.
func (c *Client) Monitor(ctx context.Context, f MonitorFilter) (*MonitorReader, error) {
	q := url.Values{}
	for _, t := range f.Types {
		q.Add("type", t)
	}
	for k, v := range map[string]string{"endpoint": f.Endpoint, "network": f.Network, "proto": f.Proto} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Port != 0 {
		q.Set("port", strconv.Itoa(int(f.Port)))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://ebpfnet/v1/monitor?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.noDaemon(err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, errorOf(resp)
	}
	return &MonitorReader{body: resp.Body, dec: json.NewDecoder(resp.Body)}, nil
}

// Next is the next event; io.EOF when the daemon ended the stream.
func (m *MonitorReader) Next() (MonitorEvent, error) {
	var ev MonitorEvent
	err := m.dec.Decode(&ev)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return ev, err
}

// Close detaches the monitor.
func (m *MonitorReader) Close() error { return m.body.Close() }
