package bpftest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// tc verdicts (include/uapi/linux/pkt_cls.h).
const (
	ActOK       = 0
	ActShot     = 2
	ActRedirect = 7
)

// SkBuff must match the start of struct __sk_buff in
// bpf/include/linux/bpf.h, up to ifindex: the kernel takes a prefix and
// zeroes the rest. It refuses non-zero values in fields it does not let a
// test set (len, pkt_type, queue_mapping, protocol, vlan_*), and an ifindex
// other than 0 or 1 must name a device of the calling thread's netns.
type SkBuff struct {
	Len            uint32
	PktType        uint32
	Mark           uint32
	QueueMapping   uint32
	Protocol       uint32
	VlanPresent    uint32
	VlanTCI        uint32
	VlanProto      uint32
	Priority       uint32
	IngressIfindex uint32
	Ifindex        uint32 // the device the packet is on (0: loopback)
}

// skbOut receives the context after a run: the kernel refuses to return
// less than the whole struct __sk_buff (ENOSPC), which grows with kernels.
type skbOut struct {
	SkBuff
	_ [512]byte
}

// Result is what one run of a program produced.
type Result struct {
	Ret    uint32
	Packet []byte             // the packet after the program, as the kernel returned it
	Events []loader.EnetEvent // trace events the run emitted, in order
	Skb    SkBuff             // a tc program's context after the run, as the kernel returned it
}

// room for programs that grow the packet (encapsulation, IP options).
const outputPad = 256

// Run runs prog once on pkt with ctx as its context (an SkBuff for tc
// programs) and collects the events it emitted. BPF_PROG_RUN does not
// perform redirects: a redirect shows as the return code and the target in
// the event.
func (d *Datapath) Run(prog *ebpf.Program, pkt []byte, ctx any) (Result, error) {
	var skb skbOut
	out := make([]byte, len(pkt)+outputPad)
	opts := &ebpf.RunOptions{Data: pkt, DataOut: out, Context: ctx}
	if _, ok := ctx.(SkBuff); ok {
		opts.ContextOut = &skb
	}
	ret, err := prog.Run(opts)
	if err != nil {
		return Result{}, err
	}
	evs, err := d.drainEvents()
	if err != nil {
		return Result{}, err
	}
	return Result{Ret: ret, Packet: opts.DataOut, Events: evs, Skb: skb.SkBuff}, nil
}

// RunTC runs a tc program on pkt as if it arrived on ingressIfindex.
func (d *Datapath) RunTC(prog *ebpf.Program, ingressIfindex int, pkt []byte) Result {
	d.t.Helper()
	return d.RunSkb(prog, SkBuff{IngressIfindex: uint32(ingressIfindex)}, pkt)
}

// RunSkb runs a tc program on pkt with skb as its context.
func (d *Datapath) RunSkb(prog *ebpf.Program, skb SkBuff, pkt []byte) Result {
	d.t.Helper()
	r, err := d.Run(prog, pkt, skb)
	if err != nil {
		d.t.Fatalf("run %s: %v", prog, err)
	}
	return r
}

// drainEvents reads what is in enet_events now. The program ran
// synchronously, so everything it submitted is already there and a deadline
// in the past only stops the read once the ring is empty.
func (d *Datapath) drainEvents() ([]loader.EnetEvent, error) {
	var evs []loader.EnetEvent
	d.events.SetDeadline(time.Now())
	for {
		rec, err := d.events.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return evs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read enet_events: %w", err)
		}
		var ev loader.EnetEvent
		if err := binary.Read(bytes.NewReader(rec.RawSample), binary.NativeEndian, &ev); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		evs = append(evs, ev)
	}
}
