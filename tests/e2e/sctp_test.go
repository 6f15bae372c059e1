package e2e

import (
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPublishSCTP (issue 19, point 13): Docker's -p 9000:9000/sctp is
// taken where the kernel has SCTP and refused with that reason where it
// has not (this machine's has no sctp module); a host port other than the
// container port is refused everywhere, as the datapath would have to
// recompute SCTP's CRC32c to change it. A refusal changes nothing.
func TestPublishSCTP(t *testing.T) {
	t.Parallel()
	w, srv, _ := srvWorld(t)
	hasSCTP := kernelHasSCTP()
	before := portsOf(t, w)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"other host port", []string{"publish", srv, "9001:9000/sctp"}, "published on the same host port only (9000:9000/sctp)"},
		{"any host port", []string{"publish", srv, "9000/sctp"}, "published on the same host port only (9000:9000/sctp)"},
		{"at endpoint creation", []string{"endpoint", "create", w.Name("x"), "--network", "web", "-p", "9000:9001/sctp"},
			"published on the same host port only (9001:9001/sctp)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mustFailCLI(t, w, c.want, c.args...)
			if got := portsOf(t, w); !reflect.DeepEqual(got, before) {
				t.Fatalf("ebpfnet port changed: %v, was %v", got, before)
			}
		})
	}
	t.Run("same host port", func(t *testing.T) {
		if !hasSCTP {
			mustFailCLI(t, w, "sctp: this kernel has no SCTP support (module sctp not loaded)", "publish", srv, "9000:9000/sctp")
			if got := portsOf(t, w); !reflect.DeepEqual(got, before) {
				t.Fatalf("ebpfnet port changed: %v, was %v", got, before)
			}
			return
		}
		w.MustCLI("publish", srv, "9000:9000/sctp")
		if ps := bpfPortsOf(t, w); len(ps) != 1 || ps[0].Proto != "sctp" || ps[0].HostPort != 9000 || ps[0].Target != "10.10.0.2:9000" {
			t.Fatalf("enet_ports: %+v, want sctp 9000 -> 10.10.0.2:9000", ps)
		}
	})
}

func kernelHasSCTP() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_SCTP)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}
