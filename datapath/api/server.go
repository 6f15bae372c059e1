package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
)

// maxBody bounds every request body; nothing the API takes is near it.
const maxBody = 1 << 20

// Backend is what the server exposes; the daemon implements it.
type Backend interface {
	Status(ctx context.Context) (*Status, error)
	Stop(ctx context.Context) error
	FreeMemory(ctx context.Context) error
	Reset(ctx context.Context) error

	CreateNetwork(ctx context.Context, req NetworkCreate) (*Network, error)
	Networks(ctx context.Context) ([]Network, error)
	Network(ctx context.Context, name string) (*Network, error)
	RemoveNetwork(ctx context.Context, name string) error
	PruneNetworks(ctx context.Context) (*NetworkPruneReport, error)
	Connect(ctx context.Context, network string, req Connect) (*Endpoint, error)
	Disconnect(ctx context.Context, network string, req Connect) (*Endpoint, error)

	CreateEndpoint(ctx context.Context, req EndpointCreate) (*Endpoint, error)
	Endpoints(ctx context.Context) ([]Endpoint, error)
	Endpoint(ctx context.Context, name string) (*Endpoint, error)
	RemoveEndpoint(ctx context.Context, name string) error
	// ForceRemoveEndpoint removes an endpoint and those sharing its
	// namespace (container:NAME).
	ForceRemoveEndpoint(ctx context.Context, name string) (*Removed, error)
	Attach(ctx context.Context, name string, req Attach) (*Endpoint, error)
	Publish(ctx context.Context, endpoint string, req Publish) ([]Port, error)
	Unpublish(ctx context.Context, endpoint string, req Publish) ([]Port, error)
	Ports(ctx context.Context, endpoint string) ([]Port, error)

	BPFEndpoints(ctx context.Context) ([]BPFEndpoint, error)
	BPFNetworks(ctx context.Context) ([]BPFNetwork, error)
	BPFStats(ctx context.Context) ([]BPFCounter, error)
	BPFCT(ctx context.Context) ([]BPFFlow, error)
	BPFNAT(ctx context.Context) ([]BPFNAT, error)
	BPFPorts(ctx context.Context) ([]BPFPort, error)
	SetTrace(ctx context.Context, req Trace) error
	Prefilters(ctx context.Context) ([]Prefilter, error)
	AddPrefilters(ctx context.Context, req Prefixes) ([]Prefilter, error)
	RemovePrefilters(ctx context.Context, req Prefixes) error
	// Monitor attaches a monitor to the datapath's events.
	Monitor(ctx context.Context, f MonitorFilter) (MonitorStream, error)

	SetAliases(ctx context.Context, endpoint string, req Aliases) (*Endpoint, error)
	DNSRecords(ctx context.Context, network string) ([]DNSRecord, error)
	DNSStatus(ctx context.Context) (*DNSStatus, error)

	CNIAdd(ctx context.Context, req CNIAttach) (*CNIResult, error)
	CNIDel(ctx context.Context, req CNIAttach) error
	CNICheck(ctx context.Context, req CNIAttach) (*CNIResult, error)
	CNIGC(ctx context.Context, req CNIGC) (*CNIGCReport, error)
}

// empty is the request or response of calls that carry none.
type empty struct{}

// Handler routes the API to a backend.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/status", call(func(ctx context.Context, _ *http.Request, _ empty) (*Status, error) { return b.Status(ctx) }))
	mux.Handle("POST /v1/daemon/stop", call(func(ctx context.Context, _ *http.Request, _ empty) (*empty, error) { return nil, b.Stop(ctx) }))
	mux.Handle("POST /v1/daemon/gc", call(func(ctx context.Context, _ *http.Request, _ empty) (*empty, error) { return nil, b.FreeMemory(ctx) }))
	mux.Handle("POST /v1/system/reset", call(func(ctx context.Context, _ *http.Request, _ empty) (*empty, error) { return nil, b.Reset(ctx) }))

	mux.Handle("POST /v1/networks", call(func(ctx context.Context, _ *http.Request, in NetworkCreate) (*Network, error) {
		return b.CreateNetwork(ctx, in)
	}))
	mux.Handle("GET /v1/networks", call(func(ctx context.Context, _ *http.Request, _ empty) ([]Network, error) { return b.Networks(ctx) }))
	mux.Handle("GET /v1/networks/{name}", call(func(ctx context.Context, r *http.Request, _ empty) (*Network, error) {
		return b.Network(ctx, r.PathValue("name"))
	}))
	mux.Handle("DELETE /v1/networks/{name}", call(func(ctx context.Context, r *http.Request, _ empty) (*empty, error) {
		return nil, b.RemoveNetwork(ctx, r.PathValue("name"))
	}))
	mux.Handle("POST /v1/networks/prune", call(func(ctx context.Context, _ *http.Request, _ empty) (*NetworkPruneReport, error) {
		return b.PruneNetworks(ctx)
	}))
	mux.Handle("POST /v1/networks/{name}/connect", call(func(ctx context.Context, r *http.Request, in Connect) (*Endpoint, error) {
		return b.Connect(ctx, r.PathValue("name"), in)
	}))
	mux.Handle("POST /v1/networks/{name}/disconnect", call(func(ctx context.Context, r *http.Request, in Connect) (*Endpoint, error) {
		return b.Disconnect(ctx, r.PathValue("name"), in)
	}))

	mux.Handle("POST /v1/endpoints", call(func(ctx context.Context, _ *http.Request, in EndpointCreate) (*Endpoint, error) {
		return b.CreateEndpoint(ctx, in)
	}))
	mux.Handle("GET /v1/endpoints", call(func(ctx context.Context, _ *http.Request, _ empty) ([]Endpoint, error) { return b.Endpoints(ctx) }))
	mux.Handle("GET /v1/endpoints/{name}", call(func(ctx context.Context, r *http.Request, _ empty) (*Endpoint, error) {
		return b.Endpoint(ctx, r.PathValue("name"))
	}))
	mux.Handle("DELETE /v1/endpoints/{name}", call(func(ctx context.Context, r *http.Request, _ empty) (*Removed, error) {
		if r.URL.Query().Get("force") == "1" {
			return b.ForceRemoveEndpoint(ctx, r.PathValue("name"))
		}
		return nil, b.RemoveEndpoint(ctx, r.PathValue("name"))
	}))

	mux.Handle("POST /v1/endpoints/{name}/attach", call(func(ctx context.Context, r *http.Request, in Attach) (*Endpoint, error) {
		return b.Attach(ctx, r.PathValue("name"), in)
	}))
	mux.Handle("POST /v1/endpoints/{name}/publish", call(func(ctx context.Context, r *http.Request, in Publish) ([]Port, error) {
		return b.Publish(ctx, r.PathValue("name"), in)
	}))
	mux.Handle("POST /v1/endpoints/{name}/unpublish", call(func(ctx context.Context, r *http.Request, in Publish) ([]Port, error) {
		return b.Unpublish(ctx, r.PathValue("name"), in)
	}))
	mux.Handle("GET /v1/ports", call(func(ctx context.Context, r *http.Request, _ empty) ([]Port, error) {
		return b.Ports(ctx, r.URL.Query().Get("endpoint"))
	}))
	mux.Handle("GET /v1/bpf/ports", call(func(ctx context.Context, _ *http.Request, _ empty) ([]BPFPort, error) { return b.BPFPorts(ctx) }))

	mux.Handle("GET /v1/bpf/endpoints", call(func(ctx context.Context, _ *http.Request, _ empty) ([]BPFEndpoint, error) { return b.BPFEndpoints(ctx) }))
	mux.Handle("GET /v1/bpf/networks", call(func(ctx context.Context, _ *http.Request, _ empty) ([]BPFNetwork, error) { return b.BPFNetworks(ctx) }))
	mux.Handle("GET /v1/bpf/stats", call(func(ctx context.Context, _ *http.Request, _ empty) ([]BPFCounter, error) { return b.BPFStats(ctx) }))
	mux.Handle("GET /v1/bpf/ct", call(func(ctx context.Context, _ *http.Request, _ empty) ([]BPFFlow, error) { return b.BPFCT(ctx) }))
	mux.Handle("GET /v1/bpf/nat", call(func(ctx context.Context, _ *http.Request, _ empty) ([]BPFNAT, error) { return b.BPFNAT(ctx) }))
	mux.Handle("GET /v1/monitor", serveMonitor(b))
	prefilterRoutes(mux, b)
	mux.Handle("POST /v1/bpf/trace", call(func(ctx context.Context, _ *http.Request, in Trace) (*empty, error) { return nil, b.SetTrace(ctx, in) }))

	mux.Handle("PUT /v1/endpoints/{name}/aliases", call(func(ctx context.Context, r *http.Request, in Aliases) (*Endpoint, error) {
		return b.SetAliases(ctx, r.PathValue("name"), in)
	}))
	mux.Handle("GET /v1/dns", call(func(ctx context.Context, _ *http.Request, _ empty) (*DNSStatus, error) { return b.DNSStatus(ctx) }))
	mux.Handle("GET /v1/dns/records", call(func(ctx context.Context, r *http.Request, _ empty) ([]DNSRecord, error) {
		return b.DNSRecords(ctx, r.URL.Query().Get("network"))
	}))
	mux.Handle("POST /v1/cni/add", call(func(ctx context.Context, _ *http.Request, in CNIAttach) (*CNIResult, error) { return b.CNIAdd(ctx, in) }))
	mux.Handle("POST /v1/cni/del", call(func(ctx context.Context, _ *http.Request, in CNIAttach) (*empty, error) {
		return nil, b.CNIDel(ctx, in)
	}))
	mux.Handle("POST /v1/cni/check", call(func(ctx context.Context, _ *http.Request, in CNIAttach) (*CNIResult, error) {
		return b.CNICheck(ctx, in)
	}))
	mux.Handle("POST /v1/cni/gc", call(func(ctx context.Context, _ *http.Request, in CNIGC) (*CNIGCReport, error) { return b.CNIGC(ctx, in) }))

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allowed := methodsOn(mux, r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, &StatusError{http.StatusMethodNotAllowed,
				fmt.Sprintf("%s %s: the call takes %s", r.Method, r.URL.Path, strings.Join(allowed, " or "))})
			return
		}
		writeError(w, &StatusError{http.StatusNotFound, fmt.Sprintf("no API route %s %s", r.Method, r.URL.Path)})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux would redirect /v1/networks/../status to another call,
		// which a client may follow with its method and body.
		if p := r.URL.Path; p != path.Clean(p) {
			writeError(w, badRequest("path %.80q is not clean: no API route has empty, . or .. segments", p))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// methodsOn lists the methods the API takes on the request's path.
func methodsOn(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		other := r.Clone(r.Context())
		other.Method = m
		if _, pattern := mux.Handler(other); pattern != "/" {
			out = append(out, m)
		}
	}
	return out
}

// call adapts a typed function to an http.Handler: it decodes the body
// strictly into In, and encodes Out or the error.
func call[In, Out any](fn func(context.Context, *http.Request, In) (Out, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in In
		if err := decode(r, &in); err != nil {
			writeError(w, err)
			return
		}
		out, err := fn(r.Context(), r, in)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out) // fails only when the client is gone
	})
}

// decode reads exactly one JSON value with only known fields. A call that
// takes no input accepts an empty body or {}.
func decode[T any](r *http.Request, v *T) error {
	body := http.MaxBytesReader(nil, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		if _, isEmpty := any(v).(*empty); isEmpty {
			return nil
		}
		return badRequest("request body is empty")
	case errors.As(err, &tooBig):
		return &StatusError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over %d bytes", maxBody)}
	case err != nil:
		// The decoder's message can quote a field name of any length.
		return badRequest("bad request body: %.200v", err)
	}
	switch _, err := dec.Token(); {
	case err == nil:
		return badRequest("bad request body: more than one JSON value")
	case !errors.Is(err, io.EOF):
		return badRequest("bad request body: trailing data after the JSON value")
	}
	return nil
}

func writeError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(Code(err))
	_ = json.NewEncoder(w).Encode(ErrorBody{Error: err.Error()}) // fails only when the client is gone
}
