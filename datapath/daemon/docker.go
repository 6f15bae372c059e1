package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/ebpfnet/ebpfnet/datapath/dockerdrv"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
)

// serveDockerPlugin serves the Docker network driver on its socket, when
// asked to, and returns what stops it and removes the socket: Docker
// then waits for the driver to be back. A failure to serve goes to errc.
func (d *daemon) serveDockerPlugin(errc chan<- error) (func(), error) {
	path := d.cfg.DockerPlugin
	if path == "" {
		return func() {}, nil
	}
	if err := socketDir(path); err != nil {
		return nil, fmt.Errorf("docker plugin socket: %w", err)
	}
	l, err := listenSocket(path)
	if err != nil {
		return nil, fmt.Errorf("docker plugin socket: %w", err)
	}
	h := dockerdrv.New(d.ctl, d.log).Handler()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.Serve(l); err != nil && !errors.Is(err, net.ErrClosed) {
			errc <- fmt.Errorf("serve docker plugin: %w", err)
		}
	}()
	d.log.Info("docker network driver ready", logf.Str("socket", path))
	return func() {
		_ = l.Close()
		<-done
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			d.log.Warn("remove docker plugin socket", logf.Err(err))
		}
	}, nil
}
