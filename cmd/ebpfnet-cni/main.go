// Command ebpfnet-cni is ebpfnet's CNI plugin (spec 1.1: ADD, DEL,
// CHECK, STATUS, GC, VERSION). It is thin, as Cilium's is: it reads the
// runtime's request with the CNI project's skel, passes it to the running
// daemon over its socket, and turns the answer into a CNI result. It
// keeps no state; the daemon records each attachment on its endpoint.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// callTimeout bounds one call to the daemon: a runtime waits for us.
const callTimeout = 2 * time.Minute

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck, Status: cmdStatus, GC: cmdGC},
		version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"), "ebpfnet: eBPF container networking")
}

// call runs fn against the daemon the config names.
func call(conf *netConf, fn func(context.Context, *api.Client) error) error {
	c := api.NewClient(conf.Socket)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return cniError(fn(ctx, c))
}

// verb is one of the daemon's attachment calls, with the plugin's config.
type verb func(*netConf, api.CNIClient, context.Context, api.CNIAttach) (*api.CNIResult, error)

// plain is a verb that is a CNIClient call and no more.
func plain(fn func(api.CNIClient, context.Context, api.CNIAttach) (*api.CNIResult, error)) verb {
	return func(_ *netConf, c api.CNIClient, ctx context.Context, req api.CNIAttach) (*api.CNIResult, error) {
		return fn(c, ctx, req)
	}
}

// attachCall reads the request, passes it to the daemon with v, and
// hands its answer to done.
func attachCall(args *skel.CmdArgs, v verb, done func(*netConf, *api.CNIResult) error) error {
	conf, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	req, err := attachReq(conf, args)
	if err != nil {
		return err
	}
	var res *api.CNIResult
	if err := call(conf, func(ctx context.Context, c *api.Client) (err error) {
		res, err = v(conf, c.CNI(), ctx, req)
		return err
	}); err != nil {
		return err
	}
	return done(conf, res)
}

func cmdAdd(args *skel.CmdArgs) error {
	return attachCall(args, plain(api.CNIClient.Add), func(conf *netConf, res *api.CNIResult) error {
		out, err := result(conf, res)
		if err != nil {
			return err
		}
		return types.PrintResult(out, conf.CNIVersion)
	})
}

// cmdDel passes the DEL on; with no daemon running, it queues it for the
// daemon's start and succeeds (api.QueueCNIDel).
func cmdDel(args *skel.CmdArgs) error {
	del := func(conf *netConf, c api.CNIClient, ctx context.Context, req api.CNIAttach) (*api.CNIResult, error) {
		err := c.Del(ctx, req)
		if errors.Is(err, api.ErrNoDaemon) {
			if _, qerr := api.QueueCNIDel(conf.Socket, req, time.Now()); qerr == nil {
				return nil, nil
			}
		}
		return nil, err
	}
	return attachCall(args, del, func(*netConf, *api.CNIResult) error { return nil })
}

func cmdCheck(args *skel.CmdArgs) error {
	return attachCall(args, plain(api.CNIClient.Check), checkPrev)
}

// cmdStatus fails while the daemon is not there to serve ADD.
func cmdStatus(args *skel.CmdArgs) error {
	conf, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	err = call(conf, func(ctx context.Context, c *api.Client) error {
		if _, err := c.Status(ctx); err != nil {
			return err
		}
		_, err := c.Network(ctx, conf.Network)
		return err
	})
	var e *types.Error
	if errors.As(err, &e) && e.Code == errDaemon {
		e.Code = errNotAvailable
	}
	return err
}

func cmdGC(args *skel.CmdArgs) error {
	conf, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	req := api.CNIGC{Network: conf.Network, Valid: []api.CNIAttachment{}}
	for _, a := range conf.ValidAttachments {
		req.Valid = append(req.Valid, api.CNIAttachment{ContainerID: a.ContainerID, Ifname: a.IfName})
	}
	return call(conf, func(ctx context.Context, c *api.Client) error {
		_, err := c.CNI().GC(ctx, req)
		return err
	})
}

// CNI's well-known codes the standard types do not name here.
const (
	errDaemon       uint = 11 // try again later: the daemon did not answer
	errNotAvailable uint = 50 // STATUS: the plugin cannot serve ADD now
)

// cniError makes a daemon error a CNI error: a user reads its message.
func cniError(err error) error {
	if err == nil {
		return nil
	}
	var e *types.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, api.ErrNoDaemon) {
		return types.NewError(errDaemon, "the ebpfnet daemon is not running: start it with `ebpfnet daemon start`", err.Error())
	}
	switch api.Code(err) {
	case 400:
		return types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	case 404:
		return types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	case 409:
		return types.NewError(types.ErrInternal, err.Error(), "")
	case 503:
		return types.NewError(errDaemon, err.Error(), "")
	}
	return types.NewError(types.ErrInternal, fmt.Sprint(err), "")
}
