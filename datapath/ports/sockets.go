package ports

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/maps"
)

// endSockets ends the node's sockets that connect4 pointed at the endpoint
// of a port now unpublished. connect4 rewrites a socket once, so a
// connected UDP sender would go on reaching the old endpoint (moby #8795,
// at the socket) and a TCP connection would outlive its publication, as
// forwarded flows do not. Unconnected sockets are left alone: sendmsg4
// rewrites each datagram and finds the port gone.
func (p *Publisher) endSockets(gone []store.Port, target netip.Addr) error {
	revs, err := p.revs.All()
	if err != nil {
		return err
	}
	errs := []error{}
	doomed := map[uint64]maps.SockRev{}
	for _, r := range revs {
		if slices.ContainsFunc(gone, rewroteTo(r, target)) {
			doomed[r.Cookie] = r
			errs = append(errs, p.revs.Delete(r))
		}
	}
	if len(doomed) > 0 {
		errs = append(errs, destroyConnected(doomed))
	}
	return errors.Join(errs...)
}

// rewroteTo says whether a socket was sent to a publication's endpoint in
// place of the publication's address.
func rewroteTo(r maps.SockRev, target netip.Addr) func(store.Port) bool {
	return func(p store.Port) bool {
		return r.Proto == ProtoNumber(p.Proto) && r.Endpoint == netip.AddrPortFrom(target, p.CPort) &&
			r.Published.Port() == p.HostPort && (!p.HostIP.IsValid() || r.Published.Addr() == p.HostIP)
	}
}

// destroyConnected destroys (SOCK_DESTROY) the sockets of the daemon's
// netns that have a doomed cookie and are still connected to where the
// rewrite sent them.
func destroyConnected(doomed map[uint64]maps.SockRev) error {
	var errs []error
	for _, proto := range []uint8{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
		socks, err := diagSockets(proto)
		errs = append(errs, err)
		for _, s := range socks {
			r, ok := doomed[uint64(s.ID.Cookie[1])<<32|uint64(s.ID.Cookie[0])]
			dst, _ := netip.AddrFromSlice(s.ID.Destination.To4())
			if ok && r.Proto == proto && netip.AddrPortFrom(dst, s.ID.DestinationPort) == r.Endpoint {
				errs = append(errs, destroySocket(proto, s))
			}
		}
	}
	return errors.Join(errs...)
}

func diagSockets(proto uint8) ([]*netlink.Socket, error) {
	var socks []*netlink.Socket
	var err error
	if proto == unix.IPPROTO_TCP {
		socks, err = netlink.SocketDiagTCP(unix.AF_INET)
	} else {
		socks, err = netlink.SocketDiagUDP(unix.AF_INET)
	}
	if err != nil {
		return nil, fmt.Errorf("list %s sockets: %w", maps.ProtoName(proto), err)
	}
	return socks, nil
}

// destroySocket asks the kernel to abort one socket, named by its tuple
// and cookie; one gone meanwhile is not an error.
func destroySocket(proto uint8, s *netlink.Socket) error {
	req := nl.NewNetlinkRequest(nl.SOCK_DESTROY, unix.NLM_F_ACK)
	req.AddData(&diagReq{proto: proto, id: s.ID})
	if _, err := req.Execute(unix.NETLINK_INET_DIAG, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("destroy %s socket %s:%d -> %s:%d: %w", maps.ProtoName(proto),
			s.ID.Source, s.ID.SourcePort, s.ID.Destination, s.ID.DestinationPort, err)
	}
	return nil
}

// diagReq is struct inet_diag_req_v2 for an IPv4 socket, which the
// netlink package builds only for TCP.
type diagReq struct {
	proto uint8
	id    netlink.SocketID
}

func (r *diagReq) Len() int { return 56 }

func (r *diagReq) Serialize() []byte {
	b := make([]byte, r.Len())
	b[0], b[1] = unix.AF_INET, r.proto
	binary.NativeEndian.PutUint32(b[4:], 0xfff) // every state
	binary.BigEndian.PutUint16(b[8:], r.id.SourcePort)
	binary.BigEndian.PutUint16(b[10:], r.id.DestinationPort)
	copy(b[12:28], r.id.Source.To4())
	copy(b[28:44], r.id.Destination.To4())
	binary.NativeEndian.PutUint32(b[44:], r.id.Interface)
	binary.NativeEndian.PutUint32(b[48:], r.id.Cookie[0])
	binary.NativeEndian.PutUint32(b[52:], r.id.Cookie[1])
	return b
}
