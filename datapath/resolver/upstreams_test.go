package resolver

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The node's upstreams are read again when its resolv.conf changes, in
// place or replaced by a rename, and kept when it goes away.
func TestFileUpstreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	write := func(content string) {
		t.Helper()
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	want := func(u *Upstreams, addrs ...string) {
		t.Helper()
		var w []netip.AddrPort
		for _, a := range addrs {
			w = append(w, netip.MustParseAddrPort(a))
		}
		if got := u.Get(); !slices.Equal(got, w) {
			t.Fatalf("upstreams %v, want %v", got, w)
		}
	}
	write("nameserver 192.0.2.1\n")
	u := FileUpstreams(path)
	want(u, "192.0.2.1:53")
	write("nameserver 192.0.2.2\nnameserver 127.0.0.53\n")
	want(u, "192.0.2.1:53") // looked at again only after recheck
	u.checked = time.Time{}
	want(u, "192.0.2.2:53")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	u.checked = time.Time{}
	want(u, "192.0.2.2:53")
	if got := FixedUpstreams(nil).Get(); got != nil {
		t.Fatalf("no fixed upstreams: %v", got)
	}
}
