package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Issue 13: every network has a resolver that answers its endpoints, at
// 127.0.0.11 as Docker's containers find theirs, with the names and
// aliases of the networks they share, PTR for their addresses, and
// everything else forwarded upstream.
func TestNames(t *testing.T) {
	w, _ := namesWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	w.MustCLI("network", "create", "other", "--subnet", "10.11.0.0/24")
	for _, args := range [][]string{
		{w.Name("api1"), "--network", "web", "--alias", "api"},
		{w.Name("api2"), "--network", "web", "--alias", "api"},
		{w.Name("client"), "--network", "web"},
		{w.Name("lonely"), "--network", "other"},
	} {
		w.MustCLI(append([]string{"endpoint", "create"}, args...)...)
	}
	api1, api2 := epIP(t, w, "api1", "web"), epIP(t, w, "api2", "web")

	t.Run("resolv.conf names 127.0.0.11", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("/etc/netns", w.Name("client"), "resolv.conf"))
		if err != nil || !strings.Contains(string(raw), "nameserver 127.0.0.11\n") {
			t.Fatalf("resolv.conf: %v\n%s", err, raw)
		}
	})
	t.Run("a name", func(t *testing.T) {
		if got := digShort(t, w, "client", w.Name("api1")); !slices.Equal(got, []string{api1}) {
			t.Fatalf("api1 is %v, want %s", got, api1)
		}
	})
	t.Run("names are case-insensitive", func(t *testing.T) {
		if got := digShort(t, w, "client", strings.ToUpper(w.Name("api1"))); !slices.Equal(got, []string{api1}) {
			t.Fatalf("API1 is %v, want %s", got, api1)
		}
	})
	t.Run("NAME.NETWORK", func(t *testing.T) {
		if got := digShort(t, w, "client", w.Name("api2")+".web"); !slices.Equal(got, []string{api2}) {
			t.Fatalf("api2.web is %v, want %s", got, api2)
		}
	})
	t.Run("an alias answers all its addresses, taking turns first", func(t *testing.T) {
		first := map[string]bool{}
		for range 4 {
			got := digShort(t, w, "client", "api")
			if !sameSet(got, []string{api1, api2}) {
				t.Fatalf("api is %v, want %s and %s", got, api1, api2)
			}
			first[got[0]] = true
		}
		if len(first) != 2 {
			t.Fatalf("api always answered %v first", first)
		}
	})
	t.Run("over TCP", func(t *testing.T) {
		if got := digShort(t, w, "client", "+tcp", w.Name("api1")); !slices.Equal(got, []string{api1}) {
			t.Fatalf("api1 over TCP is %v, want %s", got, api1)
		}
	})
	t.Run("PTR", func(t *testing.T) {
		want := w.Name("api1") + ".web."
		if got := digShort(t, w, "client", "-x", api1); !slices.Equal(got, []string{want}) {
			t.Fatalf("PTR of %s is %v, want %s", api1, got, want)
		}
		if got := digStatus(t, w, "client", "-x", "10.10.0.200"); got != "NXDOMAIN" {
			t.Fatalf("PTR of a free address of web: %s, want NXDOMAIN", got)
		}
	})
	t.Run("NODATA for another type of a name", func(t *testing.T) {
		out := dig(t, w, "client", "AAAA", w.Name("api1"))
		if !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "ANSWER: 0") {
			t.Fatalf("AAAA api1: want NOERROR and no answer:\n%s", out)
		}
	})
	t.Run("other names go upstream", func(t *testing.T) {
		if got := digShort(t, w, "client", "www.fwd.test"); !slices.Equal(got, []string{fwdAnswer.String()}) {
			t.Fatalf("www.fwd.test is %v, want the upstream's %s", got, fwdAnswer)
		}
		if got := digStatus(t, w, "client", "nowhere.example"); got != "NXDOMAIN" {
			t.Fatalf("nowhere.example: %s, want the upstream's NXDOMAIN", got)
		}
	})
	t.Run("nslookup", func(t *testing.T) {
		out, err := w.NetnsExec(w.Name("client"), "nslookup", "-timeout=2", w.Name("api1"))
		if err != nil || !strings.Contains(out, "Server:\t\t127.0.0.11") || !strings.Contains(out, "Address: "+api1) {
			t.Fatalf("nslookup api1: %v\n%s", err, out)
		}
	})
	t.Run("getaddrinfo", func(t *testing.T) {
		out, err := w.NetnsExec(w.Name("client"), "getent", "ahostsv4", w.Name("api1"))
		if err != nil || !strings.HasPrefix(out, api1+" ") {
			t.Fatalf("getent ahostsv4 api1: %v\n%s", err, out)
		}
	})
	t.Run("no names of a network the asker is not on", func(t *testing.T) {
		if got := digStatus(t, w, "lonely", w.Name("api1")); got != "NXDOMAIN" {
			t.Fatalf("api1 from lonely (not on web): %s, want NXDOMAIN", got)
		}
	})
	t.Run("aliases are per network", func(t *testing.T) {
		w.MustCLI("network", "connect", "other", w.Name("api1"), "--alias", "db")
		if got := digShort(t, w, "lonely", "db"); !slices.Equal(got, []string{epIP(t, w, "api1", "other")}) {
			t.Fatalf("db from lonely is %v, want api1's address on other", got)
		}
		if got := digStatus(t, w, "client", "db"); got != "NXDOMAIN" {
			t.Fatalf("db from client (web only): %s, want NXDOMAIN", got)
		}
	})
	t.Run("plain queries are answered in the datapath", func(t *testing.T) {
		// No EDNS0, as glibc and musl ask: enet_from_ep answers.
		grows(t, w, w.Name("client"), "dns-answered", func() {
			if got := digShort(t, w, "client", "+noedns", strings.ToUpper(w.Name("api1"))+".web"); !slices.Equal(got, []string{api1}) {
				t.Fatalf("API1.web is %v, want %s", got, api1)
			}
			first := map[string]bool{}
			for range 4 {
				got := digShort(t, w, "client", "+noedns", "api")
				if !sameSet(got, []string{api1, api2}) {
					t.Fatalf("api is %v, want %s and %s", got, api1, api2)
				}
				first[got[0]] = true
			}
			if len(first) != 2 {
				t.Fatalf("api always answered %v first", first)
			}
		})
		out := dig(t, w, "client", "+noedns", w.Name("api1"))
		for _, want := range []string{"status: NOERROR", "flags: qr aa rd ra;", "ANSWER: 1", "SERVER: 127.0.0.11#53"} {
			if !strings.Contains(out, want) {
				t.Fatalf("the datapath's answer lacks %q:\n%s", want, out)
			}
		}
		before := counted(t, w, w.Name("client"), "dns-answered")
		if got := digShort(t, w, "client", "+noedns", "www.fwd.test"); !slices.Equal(got, []string{fwdAnswer.String()}) {
			t.Fatalf("www.fwd.test is %v", got)
		}
		if counted(t, w, w.Name("client"), "dns-answered") != before {
			t.Fatal("the datapath answered a name it does not hold")
		}
	})
	t.Run("port 53 published on every address shadows no name", func(t *testing.T) {
		// A DNS server's container: the resolvers are not on port 53.
		w.MustCLI("publish", w.Name("api2"), "53:53/udp", "53:53")
		defer w.MustCLI("unpublish", w.Name("api2"), "53:53/udp", "53:53")
		for _, plain := range []string{"+edns", "+noedns"} {
			if got := digShort(t, w, "client", plain, w.Name("api1")); !slices.Equal(got, []string{api1}) {
				t.Fatalf("%s: api1 is %v with port 53 published, want %s", plain, got, api1)
			}
		}
	})
	t.Run("dns ls", func(t *testing.T) {
		out := w.MustCLI("dns", "ls", "web")
		for _, want := range []string{"api ", w.Name("api1"), api2, "PTR"} {
			if !strings.Contains(out, want) {
				t.Fatalf("dns ls web lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "other") {
			t.Fatalf("dns ls web shows another network:\n%s", out)
		}
	})
}
