package ports

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/portspec"
)

// sctpPublishable refuses, before anything is reserved, an SCTP spec the
// datapath cannot carry. Its host port must be the container port: SCTP's
// checksum is a CRC32c over the whole packet, which a new port would need
// recomputed and the datapath does not recompute (an address is not in
// it, so masquerade and DNAT to the same port need no change). And the
// kernel must have SCTP, for the socket that holds the host port.
func sctpPublishable(sp portspec.Spec) error {
	if sp.Proto != "sctp" {
		return nil
	}
	if sp.HostFirst == 0 || sp.HostFirst != sp.CPortFirst || sp.HostLast != sp.CPortLast {
		return errdefs.Invalid("publish %d/sctp: an SCTP port is published on the same host port only (%d:%d/sctp): "+
			"a new port would need the packet's CRC32c recomputed, which the datapath does not do",
			sp.CPortFirst, sp.CPortFirst, sp.CPortFirst)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_SCTP)
	if err != nil {
		return noSCTP(err)
	}
	unix.Close(fd)
	return nil
}

// noSCTP names the reason an SCTP socket cannot be had, when it is that
// the kernel has no SCTP.
func noSCTP(err error) error {
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ESOCKTNOSUPPORT) {
		return errdefs.Invalid("sctp: this kernel has no SCTP support (module sctp not loaded)")
	}
	return fmt.Errorf("open an sctp socket: %w", err)
}
