// Package cni drives CNI plugins through libcni, as containerd, Kubernetes
// and Podman's CNI mode do: the peer of the benchmark, the CNI reference
// plugins bridge, host-local and portmap, and ebpfnet's own ebpfnet-cni.
// The reference plugins change the network namespace of the process that
// runs them, so Do must run inside the world's node namespace: the harness
// re-executes itself there with a Request on stdin, for ebpfnet-cni too.
package cni

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"golang.org/x/sys/unix"
)

// PluginDir is where Debian's containernetworking-plugins puts them.
const PluginDir = "/usr/lib/cni"

// Request is one batch of ADDs or DELs, timed as a whole and per call.
type Request struct {
	Op       string          `json:"op"` // add or del
	CacheDir string          `json:"cache_dir"`
	ConfList json.RawMessage `json:"conf_list"`
	Attach   []Attachment    `json:"attach"`
	// PluginDirs are where libcni finds the conf list's plugins;
	// PluginDir when empty.
	PluginDirs []string `json:"plugin_dirs,omitempty"`
}

// Attachment is one container: its namespace and its port mappings.
type Attachment struct {
	ID    string `json:"id"`
	Netns string `json:"netns"` // a /run/netns path
	// Own: an add creates the namespace first and a del removes it after,
	// both inside the timed batch, as a runtime does around its CNI calls.
	Own   bool   `json:"own,omitempty"`
	Ports []Port `json:"ports,omitempty"`
}

// Port is one entry of the portMappings capability.
type Port struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

// Response is what a batch did: its time, each call's, and on add each
// attachment's address.
type Response struct {
	Seconds float64 `json:"seconds"`
	// Calls is the time of each attachment's libcni call (AddNetworkList
	// or DelNetworkList) alone, without making or removing its netns, in
	// the order of the attachments; on an error, those that finished.
	Calls []float64 `json:"calls,omitempty"`
	IPs   []string  `json:"ips,omitempty"`
	Error string    `json:"error,omitempty"`
}

// ConfList is the peer's network: a bridge that is the gateway and
// masquerades, host-local IPAM with its state in dataDir, and portmap with
// SNAT for hairpin and localhost traffic.
func ConfList(name, bridge, subnet, dataDir string) json.RawMessage {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       name,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true,
				"ipam": map[string]any{
					"type": "host-local", "dataDir": dataDir,
					"ranges": [][]map[string]string{{{"subnet": subnet}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "snat": true, "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	b, _ := json.Marshal(conf)
	return b
}

// Do runs a request in the calling process's network namespace.
func Do(ctx context.Context, req Request) Response {
	start := time.Now()
	ips, calls, err := do(ctx, req)
	resp := Response{Seconds: time.Since(start).Seconds(), Calls: calls, IPs: ips}
	if err != nil {
		resp.Error = err.Error()
	}
	return resp
}

func do(ctx context.Context, req Request) (ips []string, calls []float64, err error) {
	list, err := libcni.ConfListFromBytes(req.ConfList)
	if err != nil {
		return nil, nil, fmt.Errorf("parse conf list: %w", err)
	}
	dirs := req.PluginDirs
	if len(dirs) == 0 {
		dirs = []string{PluginDir}
	}
	cfg := libcni.NewCNIConfigWithCacheDir(dirs, req.CacheDir, nil)
	for _, a := range req.Attach {
		rt := &libcni.RuntimeConf{
			ContainerID: a.ID, NetNS: a.Netns, IfName: "eth0",
			CapabilityArgs: map[string]any{"portMappings": a.Ports},
		}
		switch req.Op {
		case "add":
			ip, took, err := add(ctx, cfg, list, rt, a.Own)
			if err != nil {
				return nil, calls, fmt.Errorf("add %s: %w", a.ID, err)
			}
			ips = append(ips, ip)
			calls = append(calls, took.Seconds())
		case "del":
			start := time.Now()
			if err := cfg.DelNetworkList(ctx, list, rt); err != nil {
				return nil, calls, fmt.Errorf("del %s: %w", a.ID, err)
			}
			calls = append(calls, time.Since(start).Seconds())
			if a.Own {
				if err := removeNetns(a.Netns); err != nil {
					return nil, calls, err
				}
			}
		default:
			return nil, nil, fmt.Errorf("unknown op %q", req.Op)
		}
	}
	return ips, calls, nil
}

// add is one ADD, after making the netns if own; took is the ADD's alone.
func add(ctx context.Context, cfg *libcni.CNIConfig, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf, own bool) (ip string, took time.Duration, err error) {
	if own {
		if err := createNetns(rt.NetNS); err != nil {
			return "", 0, err
		}
	}
	start := time.Now()
	res, err := cfg.AddNetworkList(ctx, list, rt)
	took = time.Since(start)
	if err != nil {
		return "", 0, err
	}
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return "", 0, fmt.Errorf("convert result: %w", err)
	}
	if len(r.IPs) == 0 {
		return "", 0, fmt.Errorf("no address in the result")
	}
	return r.IPs[0].Address.IP.String(), took, nil
}

// createNetns makes a named namespace the way `ip netns add` does, on a
// thread that is thrown away afterwards since it is left inside.
func createNetns(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create netns file: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		errc <- unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, "")
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return fmt.Errorf("bind mount netns %s: %w", path, err)
	}
	return nil
}

func removeNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	return os.Remove(path)
}
