package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Dnsperf are the options every dnsperf run gets, on both sides.
type Dnsperf struct {
	Clients     int           // -c: client sockets
	Threads     int           // -T
	Outstanding int           // -q: queries in flight at most
	Timeout     time.Duration // -t: a query unanswered this long is lost
}

func (p Dnsperf) args(server netip.AddrPort, file string, d time.Duration) []string {
	return []string{"dnsperf", "-s", server.Addr().String(), "-p", strconv.Itoa(int(server.Port())), "-d", file,
		"-l", strconv.FormatFloat(d.Seconds(), 'f', -1, 64),
		"-c", strconv.Itoa(p.Clients), "-T", strconv.Itoa(p.Threads),
		"-q", strconv.Itoa(p.Outstanding), "-t", strconv.FormatFloat(p.Timeout.Seconds(), 'f', -1, 64)}
}

// perfStats is what a dnsperf run printed.
type perfStats struct {
	Sent, Completed, Lost int
	QPS                   float64
	AvgLatency            time.Duration
	Codes                 map[string]int // response codes and their counts
}

// runDnsperf runs dnsperf in netns against server for d.
func runDnsperf(ctx context.Context, p Dnsperf, netns string, server netip.AddrPort, file string, d time.Duration,
	extra []string, into func(*exec.Cmd)) (perfStats, error) {
	ctx, cancel := context.WithTimeout(ctx, d+p.Timeout+30*time.Second)
	defer cancel()
	cmd := nsCmd(ctx, netns, append(p.args(server, file, d), extra...)...)
	into(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return perfStats{}, fmt.Errorf("dnsperf: %w: %s", err, lastLine(stderr.String()+stdout.String()))
	}
	st, err := parseDnsperf(stdout.String())
	if err != nil {
		return st, fmt.Errorf("dnsperf: %w in:\n%s", err, stdout.String())
	}
	return st, nil
}

// parseDnsperf reads the statistics dnsperf 2.x prints at the end.
func parseDnsperf(out string) (perfStats, error) {
	st := perfStats{Codes: map[string]int{}}
	seen := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		var err error
		switch k {
		case "Queries sent":
			st.Sent, err = strconv.Atoi(f[0])
		case "Queries completed":
			st.Completed, err = strconv.Atoi(f[0])
		case "Queries lost":
			st.Lost, err = strconv.Atoi(f[0])
		case "Queries per second":
			st.QPS, err = strconv.ParseFloat(f[0], 64)
		case "Average Latency (s)":
			var s float64
			s, err = strconv.ParseFloat(f[0], 64)
			st.AvgLatency = time.Duration(s * float64(time.Second))
		case "Response codes":
			// NOERROR 123 (100.00%), NXDOMAIN 4 (0.01%)
			for _, c := range strings.Split(v, ",") {
				cf := strings.Fields(c)
				if len(cf) >= 2 {
					n, cerr := strconv.Atoi(cf[1])
					err = errors.Join(err, cerr)
					st.Codes[cf[0]] = n
				}
			}
		default:
			continue
		}
		if err != nil {
			return st, fmt.Errorf("parse %q: %w", l, err)
		}
		seen[k] = true
	}
	for _, k := range []string{"Queries sent", "Queries completed", "Queries per second"} {
		if !seen[k] {
			return st, fmt.Errorf("no %q", k)
		}
	}
	return st, nil
}

// check says why a run's answers do not count: too many lost, or answers
// other than NOERROR.
func (st perfStats) check() error {
	if st.Completed == 0 {
		return fmt.Errorf("no query answered of %d sent", st.Sent)
	}
	if st.Lost*100 > st.Sent {
		return fmt.Errorf("%d of %d queries lost", st.Lost, st.Sent)
	}
	if bad := st.Completed - st.Codes["NOERROR"]; bad*100 > st.Completed {
		return fmt.Errorf("%d of %d answers not NOERROR: %v", bad, st.Completed, st.Codes)
	}
	return nil
}

// latency is what the latency client measured.
type latency struct {
	P50, P99 time.Duration
	N        int // queries sent
	Lost     int // unanswered within the timeout; counted at the timeout
	Bad      int // answered with an error or no address
}

// measureLatency sends n A queries for names, conc in flight (a socket
// each, one query at a time on each), from netns to server, and gives the
// percentiles of their round trips.
func measureLatency(ctx context.Context, netns string, server netip.AddrPort, names []string, conc, n int, timeout time.Duration,
	edns bool) (latency, error) {
	packed := make([][]byte, len(names))
	for i, name := range names {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		if edns {
			m.SetEdns0(1232, false)
		}
		m.Id = 0
		raw, err := m.Pack()
		if err != nil {
			return latency{}, fmt.Errorf("pack %s: %w", name, err)
		}
		packed[i] = raw
	}
	conns := make([]*net.UDPConn, conc)
	err := world.InNetns(netns, func() error {
		for i := range conns {
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(server))
			if err != nil {
				return err
			}
			conns[i] = c
		}
		return nil
	})
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		return latency{}, fmt.Errorf("latency client: %w", err)
	}
	type worker struct {
		rtts      []time.Duration
		lost, bad int
		err       error
	}
	ws := make([]worker, conc)
	var wg sync.WaitGroup
	for i := range conc {
		wg.Go(func() {
			w := &ws[i]
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			c := conns[i]
			buf := make([]byte, 65535)
			q := make([]byte, 0, 512)
			for j := range n / conc {
				if ctx.Err() != nil {
					w.err = ctx.Err()
					return
				}
				q = append(q[:0], packed[rng.IntN(len(packed))]...)
				id := uint16(j)
				binary.BigEndian.PutUint16(q, id)
				sent := time.Now()
				if _, err := c.Write(q); err != nil {
					w.err = err
					return
				}
				_ = c.SetReadDeadline(sent.Add(timeout))
				for {
					k, err := c.Read(buf)
					if err != nil {
						var ne net.Error
						if errors.As(err, &ne) && ne.Timeout() {
							w.lost++
							w.rtts = append(w.rtts, timeout)
							break
						}
						if errors.Is(err, syscall.ECONNREFUSED) {
							w.err = fmt.Errorf("%s: connection refused", server)
							return
						}
						w.err = err
						return
					}
					if k < 12 || binary.BigEndian.Uint16(buf) != id {
						continue // a late answer to an earlier query
					}
					w.rtts = append(w.rtts, time.Since(sent))
					if rcode, ancount := buf[3]&0xf, binary.BigEndian.Uint16(buf[6:]); rcode != 0 || ancount == 0 {
						w.bad++
					}
					break
				}
			}
		})
	}
	wg.Wait()
	var l latency
	var all []time.Duration
	var errs []error
	for _, w := range ws {
		all = append(all, w.rtts...)
		l.Lost += w.lost
		l.Bad += w.bad
		if w.err != nil {
			errs = append(errs, w.err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return l, fmt.Errorf("latency client: %w", err)
	}
	l.N = len(all)
	if l.N == 0 {
		return l, errors.New("latency client: no queries")
	}
	slices.Sort(all)
	l.P50, l.P99 = percentile(all, 50), percentile(all, 99)
	if l.Lost*100 > l.N {
		return l, fmt.Errorf("latency client: %d of %d queries lost", l.Lost, l.N)
	}
	if l.Bad*100 > l.N {
		return l, fmt.Errorf("latency client: %d of %d answers an error or empty", l.Bad, l.N)
	}
	return l, nil
}

// percentile is the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

// lookupA asks server from netns for name's A records, retrying until
// wait has passed, and gives the addresses of the answer.
func lookupA(ctx context.Context, netns string, server netip.AddrPort, name string, wait time.Duration) ([]netip.Addr, error) {
	end := time.Now().Add(wait)
	for {
		addrs, err := exchangeA(netns, server, name)
		if err == nil || time.Now().After(end) || ctx.Err() != nil {
			return addrs, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func exchangeA(netns string, server netip.AddrPort, name string) ([]netip.Addr, error) {
	var c net.Conn
	if err := world.InNetns(netns, func() (err error) {
		c, err = net.Dial("udp4", server.String())
		return err
	}); err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	dc := &dns.Conn{Conn: c}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	if err := dc.WriteMsg(m); err != nil {
		return nil, err
	}
	r, err := dc.ReadMsg()
	if err != nil {
		return nil, fmt.Errorf("query %s A from %s: %w", name, server, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("query %s A from %s: %s", name, server, dns.RcodeToString[r.Rcode])
	}
	var out []netip.Addr
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
				out = append(out, ip)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("query %s A from %s: no address in the answer", name, server)
	}
	return out, nil
}

// nsCmd is argv run inside a namespace (world.NetnsCmd).
var nsCmd = world.NetnsCmd

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
