package ports

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/portspec"
)

// TestSCTPPublishable: an SCTP spec is refused unless its host port is its
// container port, and then only where the kernel has no SCTP, each with a
// 400 that says why; other protocols are not its business.
func TestSCTPPublishable(t *testing.T) {
	kernel := "this kernel has no SCTP support" // what a spec the datapath can carry meets here
	if kernelHasSCTP() {
		kernel = ""
	}
	for _, c := range []struct {
		spec string
		want string // "" for no error
	}{
		{"8080:80", ""},
		{"80/udp", ""},
		{"9000/sctp", "published on the same host port only (9000:9000/sctp)"},
		{"9001:9000/sctp", "published on the same host port only (9000:9000/sctp)"},
		{"9000-9009:9000/sctp", "published on the same host port only"},
		{"9001-9002:9000-9001/sctp", "published on the same host port only (9000:9000/sctp)"},
		{"9000:9000/sctp", kernel},
		{"127.0.0.1:9000-9001:9000-9001/sctp", kernel},
	} {
		t.Run(c.spec, func(t *testing.T) {
			sp, err := portspec.Parse(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			err = sctpPublishable(sp)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == "":
			case err == nil || !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %v, want one with %q", err, c.want)
			case errdefs.KindOf(err) != errdefs.KindInvalid:
				t.Fatalf("kind %v, want invalid (400)", errdefs.KindOf(err))
			}
		})
	}
}

func kernelHasSCTP() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_SCTP)
	if err == nil {
		unix.Close(fd)
	}
	return !errors.Is(err, unix.EPROTONOSUPPORT) && !errors.Is(err, unix.ESOCKTNOSUPPORT)
}
