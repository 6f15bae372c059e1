package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
)

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/run/ebpfnet/ebpfnet.sock"

// ErrNoDaemon is returned when nothing answers on the socket.
var ErrNoDaemon = errors.New("no ebpfnet daemon is running")

// Client talks to the daemon over its unix socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the daemon on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &Client{socket: socket, http: &http.Client{Transport: tr}}
}

// noDaemon says so when nothing answers on the socket.
func (c *Client) noDaemon(err error) error {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w on %s", ErrNoDaemon, c.socket)
	}
	return err
}

// errorOf is the error a refusing answer carries.
func errorOf(resp *http.Response) error {
	var eb ErrorBody
	if json.NewDecoder(resp.Body).Decode(&eb) != nil || eb.Error == "" {
		eb.Error = resp.Status
	}
	return &StatusError{Code: resp.StatusCode, Msg: eb.Error}
}

// Close lets go of the client's idle connections to the daemon.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Do sends one request and decodes the answer into out (if not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://ebpfnet"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.noDaemon(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return errorOf(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

func get[T any](ctx context.Context, c *Client, path string) (T, error) {
	var out T
	err := c.Do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

func esc(name string) string { return url.PathEscape(name) }

// Status reports the daemon and its datapath.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	return get[*Status](ctx, c, "/v1/status")
}

// Stop asks the daemon to exit, leaving the datapath in place.
func (c *Client) Stop(ctx context.Context) error {
	return c.Do(ctx, http.MethodPost, "/v1/daemon/stop", nil, nil)
}

// FreeMemory has the daemon collect garbage and return it to the kernel.
func (c *Client) FreeMemory(ctx context.Context) error {
	return c.Do(ctx, http.MethodPost, "/v1/daemon/gc", nil, nil)
}

// Reset removes everything ebpfnet created; the daemon exits after it.
func (c *Client) Reset(ctx context.Context) error {
	return c.Do(ctx, http.MethodPost, "/v1/system/reset", nil, nil)
}

// CreateNetwork creates a network.
func (c *Client) CreateNetwork(ctx context.Context, req NetworkCreate) (*Network, error) {
	var out Network
	return &out, c.Do(ctx, http.MethodPost, "/v1/networks", req, &out)
}

// Networks lists networks.
func (c *Client) Networks(ctx context.Context) ([]Network, error) {
	return get[[]Network](ctx, c, "/v1/networks")
}

// Network inspects one network.
func (c *Client) Network(ctx context.Context, name string) (*Network, error) {
	return get[*Network](ctx, c, "/v1/networks/"+esc(name))
}

// RemoveNetwork removes a network without endpoints.
func (c *Client) RemoveNetwork(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/networks/"+esc(name), nil, nil)
}

// PruneNetworks removes every network without endpoints but the
// default one.
func (c *Client) PruneNetworks(ctx context.Context) (*NetworkPruneReport, error) {
	var out NetworkPruneReport
	return &out, c.Do(ctx, http.MethodPost, "/v1/networks/prune", nil, &out)
}

// Connect adds an interface on network to an endpoint.
func (c *Client) Connect(ctx context.Context, network string, req Connect) (*Endpoint, error) {
	var out Endpoint
	return &out, c.Do(ctx, http.MethodPost, "/v1/networks/"+esc(network)+"/connect", req, &out)
}

// Disconnect removes an endpoint's interface on network.
func (c *Client) Disconnect(ctx context.Context, network string, req Connect) (*Endpoint, error) {
	var out Endpoint
	return &out, c.Do(ctx, http.MethodPost, "/v1/networks/"+esc(network)+"/disconnect", req, &out)
}

// CreateEndpoint creates an endpoint.
func (c *Client) CreateEndpoint(ctx context.Context, req EndpointCreate) (*Endpoint, error) {
	var out Endpoint
	return &out, c.Do(ctx, http.MethodPost, "/v1/endpoints", req, &out)
}

// Endpoints lists endpoints.
func (c *Client) Endpoints(ctx context.Context) ([]Endpoint, error) {
	return get[[]Endpoint](ctx, c, "/v1/endpoints")
}

// Endpoint inspects one endpoint.
func (c *Client) Endpoint(ctx context.Context, name string) (*Endpoint, error) {
	return get[*Endpoint](ctx, c, "/v1/endpoints/"+esc(name))
}

// RemoveEndpoint removes an endpoint.
func (c *Client) RemoveEndpoint(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/endpoints/"+esc(name), nil, nil)
}

// ForceRemoveEndpoint removes an endpoint and the endpoints sharing its
// namespace, which it reports.
func (c *Client) ForceRemoveEndpoint(ctx context.Context, name string) (*Removed, error) {
	var out Removed
	return &out, c.Do(ctx, http.MethodDelete, "/v1/endpoints/"+esc(name)+"?force=1", nil, &out)
}

// Attach gives a gone endpoint a namespace again.
func (c *Client) Attach(ctx context.Context, name string, req Attach) (*Endpoint, error) {
	var out Endpoint
	return &out, c.Do(ctx, http.MethodPost, "/v1/endpoints/"+esc(name)+"/attach", req, &out)
}

// Publish publishes ports of an endpoint (Docker -p specs).
func (c *Client) Publish(ctx context.Context, endpoint string, specs []string) ([]Port, error) {
	var out []Port
	return out, c.Do(ctx, http.MethodPost, "/v1/endpoints/"+esc(endpoint)+"/publish", Publish{Specs: specs}, &out)
}

// Unpublish removes the publications the specs select.
func (c *Client) Unpublish(ctx context.Context, endpoint string, specs []string) ([]Port, error) {
	var out []Port
	return out, c.Do(ctx, http.MethodPost, "/v1/endpoints/"+esc(endpoint)+"/unpublish", Publish{Specs: specs}, &out)
}

// Ports lists publications, of one endpoint or (empty) all.
func (c *Client) Ports(ctx context.Context, endpoint string) ([]Port, error) {
	q := ""
	if endpoint != "" {
		q = "?endpoint=" + url.QueryEscape(endpoint)
	}
	return get[[]Port](ctx, c, "/v1/ports"+q)
}

// BPF is the client's view of the datapath's maps, as `ebpfnet bpf`
// lists them.
func (c *Client) BPF() BPFClient { return BPFClient{c} }

// BPFClient lists the datapath's maps and sets its trace.
type BPFClient struct{ c *Client }

// Ports lists enet_ports.
func (b BPFClient) Ports(ctx context.Context) ([]BPFPort, error) {
	return get[[]BPFPort](ctx, b.c, "/v1/bpf/ports")
}

// Endpoints lists enet_endpoints.
func (b BPFClient) Endpoints(ctx context.Context) ([]BPFEndpoint, error) {
	return get[[]BPFEndpoint](ctx, b.c, "/v1/bpf/endpoints")
}

// Networks lists enet_networks.
func (b BPFClient) Networks(ctx context.Context) ([]BPFNetwork, error) {
	return get[[]BPFNetwork](ctx, b.c, "/v1/bpf/networks")
}

// Stats lists enet_stats.
func (b BPFClient) Stats(ctx context.Context) ([]BPFCounter, error) {
	return get[[]BPFCounter](ctx, b.c, "/v1/bpf/stats")
}

// CT lists enet_ct.
func (b BPFClient) CT(ctx context.Context) ([]BPFFlow, error) {
	return get[[]BPFFlow](ctx, b.c, "/v1/bpf/ct")
}

// NAT lists the live entries of enet_nat.
func (b BPFClient) NAT(ctx context.Context) ([]BPFNAT, error) {
	return get[[]BPFNAT](ctx, b.c, "/v1/bpf/nat")
}

// SetTrace sets what the datapath writes to enet_events.
func (b BPFClient) SetTrace(ctx context.Context, req Trace) error {
	return b.c.Do(ctx, http.MethodPost, "/v1/bpf/trace", req, nil)
}

// CNI is the client's view for the ebpfnet-cni plugin's calls.
func (c *Client) CNI() CNIClient { return CNIClient{c} }

// CNIClient makes the /v1/cni/* calls.
type CNIClient struct{ c *Client }

// Add attaches a container to a network (the plugin's ADD).
func (c CNIClient) Add(ctx context.Context, req CNIAttach) (*CNIResult, error) {
	var out CNIResult
	return &out, c.c.Do(ctx, http.MethodPost, "/v1/cni/add", req, &out)
}

// Del detaches it (DEL).
func (c CNIClient) Del(ctx context.Context, req CNIAttach) error {
	return c.c.Do(ctx, http.MethodPost, "/v1/cni/del", req, nil)
}

// Check checks the attachment against the kernel (CHECK).
func (c CNIClient) Check(ctx context.Context, req CNIAttach) (*CNIResult, error) {
	var out CNIResult
	return &out, c.c.Do(ctx, http.MethodPost, "/v1/cni/check", req, &out)
}

// GC removes a network's attachments not among the valid ones (GC).
func (c CNIClient) GC(ctx context.Context, req CNIGC) (*CNIGCReport, error) {
	var out CNIGCReport
	return &out, c.c.Do(ctx, http.MethodPost, "/v1/cni/gc", req, &out)
}

// Names is the calls about names: aliases and the resolvers.
func (c *Client) Names() NamesClient { return NamesClient{c} }

// NamesClient makes the calls about names.
type NamesClient struct{ c *Client }

// SetAliases replaces the names an endpoint answers to on a network.
func (n NamesClient) SetAliases(ctx context.Context, endpoint string, req Aliases) (*Endpoint, error) {
	var out Endpoint
	return &out, n.c.Do(ctx, http.MethodPut, "/v1/endpoints/"+esc(endpoint)+"/aliases", req, &out)
}

// Records lists the names the resolvers serve: every network's, or one's.
func (n NamesClient) Records(ctx context.Context, network string) ([]DNSRecord, error) {
	var out []DNSRecord
	path := "/v1/dns/records"
	if network != "" {
		path += "?network=" + url.QueryEscape(network)
	}
	return out, n.c.Do(ctx, http.MethodGet, path, nil, &out)
}

// Status is the resolvers' addresses, upstreams and counters.
func (n NamesClient) Status(ctx context.Context) (*DNSStatus, error) {
	var out DNSStatus
	return &out, n.c.Do(ctx, http.MethodGet, "/v1/dns", nil, &out)
}
