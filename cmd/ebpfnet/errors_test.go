package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// run runs the CLI on a command line as main does, with no daemon behind
// the socket, and returns what it printed on stderr and its exit code.
func run(t *testing.T, line string) (string, int) {
	t.Helper()
	a := app()
	a.Writer = io.Discard
	args := append([]string{"ebpfnet", "--socket", t.TempDir() + "/none.sock"}, strings.Fields(line)...)
	var stderr bytes.Buffer
	code := report(&stderr, a.Run(interspersed(a, args)))
	return stderr.String(), code
}

// Issue 11, found 6 and must-hold 4: typos get a suggestion, help comes
// before any other argument, and bad command lines exit as Docker's do.
func TestCommandLines(t *testing.T) {
	for _, tc := range []struct {
		line string
		code int
		want []string // lines of stderr, in order
	}{
		{"netwrok ls", 1, []string{"ebpfnet: unknown command: ebpfnet netwrok", `Did you mean "network"?`,
			"Usage:  ebpfnet COMMAND", "Run 'ebpfnet --help' for more information"}},
		{"network lss", 1, []string{"ebpfnet: unknown command: ebpfnet network lss", `Did you mean "ls"?`,
			"Usage:  ebpfnet network COMMAND"}},
		{"endpiont ls", 1, []string{`Did you mean "endpoint"?`}},
		{"bpf cts", 1, []string{"ebpfnet: unknown command: ebpfnet bpf cts", `Did you mean "ct"?`}},
		{"frobnicate", 1, []string{"ebpfnet: unknown command: ebpfnet frobnicate", "Usage:  ebpfnet COMMAND"}},
		{"endpoint create -h x", 0, nil},
		{"endpoint create x --help", 0, nil},
		{"network lss -h", 0, nil},
		{"network", 0, nil},
		{"network create --colour red x", 125, []string{"ebpfnet: flag provided but not defined: -colour",
			"Usage:  ebpfnet network create [OPTIONS] NAME", "Run 'ebpfnet network create --help' for more information"}},
		{"endpoint create x --netwrk web", 125, []string{"flag provided but not defined: -netwrk", `Did you mean "--network"?`}},
		{"network create x --mtu abc", 125, []string{`invalid value "abc" for flag -mtu`}},
		{"network create", 1, []string{"ebpfnet: 'ebpfnet network create' requires 1 argument"}},
		{"network connect web", 1, []string{"ebpfnet: 'ebpfnet network connect' requires 2 arguments"}},
		{"network rm", 1, []string{"ebpfnet: 'ebpfnet network rm' requires at least 1 argument"}},
		{"network inspect", 1, []string{"ebpfnet: 'ebpfnet network inspect' requires at least 1 argument"}},
		{"network ls x", 1, []string{"ebpfnet: 'ebpfnet network ls' accepts no arguments"}},
		{"network prune x", 1, []string{"ebpfnet: 'ebpfnet network prune' accepts no arguments"}},
		{"publish api", 1, []string{"ebpfnet: 'ebpfnet publish' requires at least 2 arguments"}},
		{"port a 80 x", 1, []string{"ebpfnet: 'ebpfnet port' requires at most 2 arguments"}},
		{"network ls --filter nokey", 125, []string{"ebpfnet: bad format of filter (expected name=value)"}},
		{"network ls --filter colour=red", 1, []string{"ebpfnet: invalid filter 'colour'"}},
		{"network ls --json --format {{.Name}}", 125, []string{"--json and --format cannot be used together"}},
		{"endpoint create x --network name=web,ip6=fd00::2", 125, []string{"--network field ip6 is not supported"}},
		{"network create x --aux-address 10.0.0.5", 125, []string{`--aux-address: option "10.0.0.5": want key=value`}},
		{"status", 1, []string{"ebpfnet: no ebpfnet daemon is running on "}},
	} {
		t.Run(tc.line, func(t *testing.T) {
			out, code := run(t, tc.line)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, out)
			}
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stderr has no %q after what came before:\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if tc.want == nil && out != "" {
				t.Fatalf("stderr:\n%s", out)
			}
		})
	}
}

func TestReport(t *testing.T) {
	daemonErr := &api.StatusError{Code: 404, Msg: `network "nope" not found`}
	for _, tc := range []struct {
		name string
		err  error
		code int
		want string
	}{
		{"none", nil, 0, ""},
		{"declined", errCancelled, 0, ""},
		{"the daemon's", daemonErr, 1, "Error response from daemon: network \"nope\" not found\n"},
		{"the daemon's, wrapped", fmt.Errorf("rm: %w", daemonErr), 1, "Error response from daemon: rm: network \"nope\" not found\n"},
		{"the CLI's", errors.New("no public port '80' published for api"), 1, "ebpfnet: no public port '80' published for api\n"},
		{"several", errors.Join(daemonErr, &api.StatusError{Code: 409, Msg: "in use"}), 1,
			"Error response from daemon: network \"nope\" not found\nError response from daemon: in use\n"},
		{"a flag's", &usageError{msg: "flag provided but not defined: -x", path: "ebpfnet port", use: "ebpfnet port [OPTIONS]", code: 125}, 125,
			"ebpfnet: flag provided but not defined: -x\n\nUsage:  ebpfnet port [OPTIONS]\n\nRun 'ebpfnet port --help' for more information\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if code := report(&b, tc.err); code != tc.code || b.String() != tc.want {
				t.Fatalf("report = %d %q, want %d %q", code, b.String(), tc.code, tc.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"network", "endpoint", "publish", "unpublish", "port", "ls", "list", "rm", "inspect"}
	for typo, want := range map[string]string{
		"netwrok": "network", "NETWORK": "network", "endpiont": "endpoint", "pubish": "publish", "lss": "ls",
		"insp": "inspect", "prot": "port", "frobnicate": "", "x": "", "zz": "",
	} {
		if got := suggest(names, typo); got != want {
			t.Errorf("suggest(%q) = %q, want %q", typo, got, want)
		}
	}
}
