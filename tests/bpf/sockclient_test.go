package bpftest

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// sockClientEnv carries the operations of a client process of the socket
// tests: the test binary itself, started again with this variable set.
const sockClientEnv = "ENET_SOCK_CLIENT"

func TestMain(m *testing.M) {
	if ops := os.Getenv(sockClientEnv); ops != "" {
		os.Exit(sockClient(ops))
	}
	os.Exit(m.Run())
}

// sockOp is one socket a client opens and what it does with it.
type sockOp struct {
	Kind string // see sockKinds
	Addr string // where the client connects or sends to
}

// sockResult is what a client's socket saw: its cookie (SO_COOKIE), the
// peer getpeername showed, the source recvfrom showed, and what the
// server answered, which is the address it was reached at.
type sockResult struct {
	Cookie uint64 `json:",omitempty"`
	Peer   string `json:",omitempty"`
	From   string `json:",omitempty"`
	Said   string `json:",omitempty"`
	Err    string `json:",omitempty"`
}

// sockKinds: the socket each kind of operation opens, and whether it
// connects (else it sends with sendto).
var sockKinds = map[string]struct {
	typ, proto int
	connect    bool
}{
	"tcp":         {unix.SOCK_STREAM, 0, true},
	"udp":         {unix.SOCK_DGRAM, 0, false},
	"udp-connect": {unix.SOCK_DGRAM, 0, true},
	"ping":        {unix.SOCK_DGRAM, unix.IPPROTO_ICMP, true},
}

// echoRequest is an ICMP echo request as a ping socket takes it: the
// kernel sets the identifier and the checksum.
var echoRequest = []byte{8, 0, 0, 0, 0, 0, 0, 1, 'e', 'n', 'e', 't'}

// sockClient runs in the client process: it does the operations encoded
// in arg one after the other and prints their results as JSON.
func sockClient(arg string) int {
	var ops []sockOp
	if err := json.Unmarshal([]byte(arg), &ops); err != nil {
		fmt.Fprintf(os.Stderr, "decode operations: %v\n", err)
		return 2
	}
	res := make([]sockResult, len(ops))
	for i, op := range ops {
		if err := op.run(&res[i]); err != nil {
			res[i].Err = err.Error()
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 2
	}
	return 0
}

func (op sockOp) run(r *sockResult) error {
	kind, ok := sockKinds[op.Kind]
	ap, err := netip.ParseAddrPort(op.Addr)
	if !ok || err != nil {
		return fmt.Errorf("bad operation %+v: %w", op, err)
	}
	fd, err := unix.Socket(unix.AF_INET, kind.typ|unix.SOCK_CLOEXEC, kind.proto)
	if err != nil {
		return fmt.Errorf("open socket: %w", err)
	}
	defer unix.Close(fd)
	// Nothing a test waits for takes this long on a loopback.
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("set receive timeout: %w", err)
	}
	if r.Cookie, err = unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE); err != nil {
		return fmt.Errorf("read socket cookie: %w", err)
	}
	msg := []byte("hello")
	if op.Kind == "ping" {
		msg = echoRequest
	}
	sa := &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	if !kind.connect {
		if err := unix.Sendto(fd, msg, 0, sa); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		return receive(fd, r, false)
	}
	if err := unix.Connect(fd, sa); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	peer, err := unix.Getpeername(fd)
	if err != nil {
		return fmt.Errorf("getpeername: %w", err)
	}
	r.Peer = sockaddrString(peer)
	if kind.typ == unix.SOCK_STREAM {
		return receive(fd, r, false)
	}
	if _, err := unix.Write(fd, msg); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return receive(fd, r, op.Kind == "ping")
}

// receive reads the server's answer: a stream to its end; one datagram,
// with its source. An echo reply says nothing but its source.
func receive(fd int, r *sockResult, quiet bool) error {
	buf := make([]byte, 512)
	for {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if from != nil {
			r.From = sockaddrString(from)
		}
		if !quiet {
			r.Said += string(buf[:n])
		}
		if from != nil || n == 0 {
			return nil
		}
	}
}

func sockaddrString(sa unix.Sockaddr) string {
	if in4, ok := sa.(*unix.SockaddrInet4); ok {
		return netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), uint16(in4.Port)).String()
	}
	return fmt.Sprintf("%T", sa)
}
