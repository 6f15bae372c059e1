package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// debianCNI is where Debian's containernetworking-plugins are, for
// chaining ebpfnet-cni with them.
const debianCNI = "/usr/lib/cni"

// cniRig runs ebpfnet-cni through libcni, as containerd's CRI does, with
// its cache in the world's dir.
type cniRig struct {
	t   *testing.T
	w   *world.World
	cfg *libcni.CNIConfig
}

func newCNIRig(t *testing.T, w *world.World) *cniRig {
	t.Helper()
	dir, err := world.CNIPluginDir()
	if err != nil {
		t.Fatal(err)
	}
	return &cniRig{t: t, w: w, cfg: libcni.NewCNIConfigWithCacheDir([]string{dir, debianCNI}, filepath.Join(w.Dir, "cni-cache"), nil)}
}

// conflist is `ebpfnet cni config NETWORK`, as a user writes it to
// /etc/cni/net.d, with more plugins chained after it.
func (r *cniRig) conflist(network string, chain ...map[string]any) *libcni.NetworkConfigList {
	r.t.Helper()
	args := []string{"cni", "config", network}
	if len(chain) > 0 {
		args = append(args, "--cni-version", "1.0.0") // Debian's plugins stop at 1.0.0
	}
	raw := r.w.MustCLI(args...)
	if len(chain) > 0 {
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			r.t.Fatal(err)
		}
		for _, p := range chain {
			m["plugins"] = append(m["plugins"].([]any), p)
		}
		b, _ := json.Marshal(m)
		raw = string(b)
	}
	list, err := libcni.ConfListFromBytes([]byte(raw))
	if err != nil {
		r.t.Fatalf("ebpfnet cni config %s: %v\n%s", network, err, raw)
	}
	return list
}

// netns is a container's namespace, /run/netns/NAME, removed with the
// test.
func (r *cniRig) netns(name string) string {
	r.t.Helper()
	ns := r.w.Name(name)
	r.w.MustExec(r.w.Node, "ip", "netns", "add", ns)
	r.t.Cleanup(func() { _, _ = r.w.Exec(r.w.Node, "ip", "netns", "del", ns) })
	return "/run/netns/" + ns
}

func rt(id, netns, ifname string, caps map[string]any) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: ifname, CapabilityArgs: caps}
}

func (r *cniRig) add(list *libcni.NetworkConfigList, c *libcni.RuntimeConf) (*current.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := r.cfg.AddNetworkList(ctx, list, c)
	if err != nil {
		return nil, err
	}
	return current.NewResultFromResult(res)
}

func (r *cniRig) mustAdd(list *libcni.NetworkConfigList, c *libcni.RuntimeConf) *current.Result {
	r.t.Helper()
	res, err := r.add(list, c)
	if err != nil {
		r.t.Fatalf("ADD %s %s on %s: %v", c.ContainerID, c.IfName, list.Name, err)
	}
	return res
}

func (r *cniRig) del(list *libcni.NetworkConfigList, c *libcni.RuntimeConf) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return r.cfg.DelNetworkList(ctx, list, c)
}

func (r *cniRig) check(list *libcni.NetworkConfigList, c *libcni.RuntimeConf) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return r.cfg.CheckNetworkList(ctx, list, c)
}

// cniCode is the CNI error code of err, 0 when it carries none.
func cniCode(err error) uint {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// addrOf is the result's address on its interface ifname.
func addrOf(t *testing.T, res *current.Result, ifname string) netip.Prefix {
	t.Helper()
	for _, ip := range res.IPs {
		if ip.Interface != nil && res.Interfaces[*ip.Interface].Name == ifname {
			p, _ := netip.ParsePrefix(ip.Address.String())
			return p
		}
	}
	t.Fatalf("result has no address on %s: %+v", ifname, res)
	return netip.Prefix{}
}
