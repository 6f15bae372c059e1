package api

import (
	"context"
	"net/http"
)

// XDP is how enet_xdp_up runs on the uplink.
type XDP struct {
	Mode string `json:"mode"`          // native, generic or off
	Why  string `json:"why,omitempty"` // why it is not native
}

// Prefilter is a source prefix enet_xdp_up drops, with what it dropped.
type Prefilter struct {
	Prefix  string `json:"prefix"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Prefixes is the body of POST and DELETE /v1/prefilter.
type Prefixes struct {
	Prefixes []string `json:"prefixes"`
}

// prefilterRoutes serves the prefilter.
func prefilterRoutes(mux *http.ServeMux, b Backend) {
	mux.Handle("GET /v1/prefilter", call(func(ctx context.Context, _ *http.Request, _ empty) ([]Prefilter, error) {
		return b.Prefilters(ctx)
	}))
	mux.Handle("POST /v1/prefilter", call(func(ctx context.Context, _ *http.Request, in Prefixes) ([]Prefilter, error) {
		return b.AddPrefilters(ctx, in)
	}))
	mux.Handle("DELETE /v1/prefilter", call(func(ctx context.Context, _ *http.Request, in Prefixes) (*empty, error) {
		return nil, b.RemovePrefilters(ctx, in)
	}))
}

// PrefilterClient is the client's view of the prefilter.
type PrefilterClient struct{ c *Client }

// Prefilter is the client's view of enet_xdp_up's prefilter.
func (c *Client) Prefilter() PrefilterClient { return PrefilterClient{c} }

// List lists the prefixes with their counts.
func (p PrefilterClient) List(ctx context.Context) ([]Prefilter, error) {
	return get[[]Prefilter](ctx, p.c, "/v1/prefilter")
}

// Add adds prefixes and returns them as stored.
func (p PrefilterClient) Add(ctx context.Context, prefixes []string) ([]Prefilter, error) {
	var out []Prefilter
	return out, p.c.Do(ctx, http.MethodPost, "/v1/prefilter", Prefixes{Prefixes: prefixes}, &out)
}

// Remove removes prefixes.
func (p PrefilterClient) Remove(ctx context.Context, prefixes []string) error {
	return p.c.Do(ctx, http.MethodDelete, "/v1/prefilter", Prefixes{Prefixes: prefixes}, nil)
}
