package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/xrash/smetrics"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// Exit codes, as Docker's CLI has them (docs/cli.md): 1 for every error,
// the daemon's refusals and a wrong number of arguments included, and 125
// for a flag the command does not take or a flag value it cannot parse
// (docker's FlagErrorFunc).
const (
	exitError = 1
	exitFlags = 125
)

// usageError is a command line the CLI cannot run. It prints with the
// command's usage and where to read more, as Docker's do.
type usageError struct {
	msg  string
	path string // "ebpfnet network create"
	use  string // "ebpfnet network create [OPTIONS] NAME"
	code int
}

func (e *usageError) Error() string { return e.msg }

func newUsageError(cmd *cli.Command, code int, format string, args ...any) *usageError {
	return &usageError{msg: fmt.Sprintf(format, args...), path: cmd.HelpName, use: usageLine(cmd), code: code}
}

// usageLine is Docker's "Usage:" line of a command.
func usageLine(cmd *cli.Command) string {
	line := cmd.HelpName
	if isGroup(cmd) {
		return line + " COMMAND"
	}
	if len(cmd.VisibleFlags()) > 0 {
		line += " [OPTIONS]"
	}
	if cmd.ArgsUsage != "" {
		line += " " + cmd.ArgsUsage
	}
	return line
}

// errCancelled is a confirmation the user declined: Docker prints nothing
// more and exits 0.
var errCancelled = errors.New("cancelled")

// report prints err as Docker's CLI would and returns the exit code: the
// daemon's refusals as "Error response from daemon: ...", the CLI's own
// errors after "ebpfnet: ", usage errors with the usage line. Errors
// joined (several names, one failing) print one a line.
func report(w io.Writer, err error) int {
	switch {
	case err == nil, errors.Is(err, errCancelled):
		return 0
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		code := 0
		for _, e := range joined.Unwrap() {
			code = max(code, report(w, e))
		}
		return code
	}
	var usage *usageError
	if errors.As(err, &usage) {
		_, _ = fmt.Fprintf(w, "ebpfnet: %s\n\nUsage:  %s\n\nRun '%s --help' for more information\n", usage.msg, usage.use, usage.path)
		return usage.code
	}
	var daemon *api.StatusError
	if errors.As(err, &daemon) {
		_, _ = fmt.Fprintln(w, "Error response from daemon:", err)
		return exitError
	}
	_, _ = fmt.Fprintln(w, "ebpfnet:", err)
	return exitError
}

// flagError makes urfave/cli's flag parsing errors usage errors with
// Docker's exit code for them, and a suggestion for a misspelt flag.
func flagError(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var names []string
		for _, f := range c.Command.VisibleFlags() {
			names = append(names, f.Names()...)
		}
		if s := suggest(names, name); s != "" {
			dashes := "--"
			if len(s) == 1 {
				dashes = "-"
			}
			msg += fmt.Sprintf("\nDid you mean %q?", dashes+s)
		}
	}
	return newUsageError(c.Command, exitFlags, "%s", msg)
}

// groupAction runs a command that only holds others: alone, it shows its
// help; with a word that names none of them, it fails with what the user
// may have meant.
func groupAction(c *cli.Context) error {
	if c.NArg() == 0 {
		if c.Command.HelpName == c.App.Name {
			return cli.ShowAppHelp(c)
		}
		return cli.ShowSubcommandHelp(c)
	}
	word := c.Args().First()
	var names []string
	for _, sub := range c.Command.Subcommands {
		if !sub.Hidden {
			names = append(names, sub.Names()...)
		}
	}
	msg := fmt.Sprintf("unknown command: %s %s", c.Command.HelpName, word)
	if s := suggest(names, word); s != "" {
		msg += fmt.Sprintf("\nDid you mean %q?", s)
	}
	return newUsageError(c.Command, exitError, "%s", msg)
}

// suggest is the name a typo most likely meant, as cobra picks it for
// Docker: an edit distance of at most 2, or the typo as a prefix of 3
// letters or more. Nothing when no name is that close.
func suggest(names []string, typo string) string {
	best, bestDist := "", 3
	typo = strings.ToLower(typo)
	for _, n := range names {
		d := smetrics.WagnerFischer(typo, n, 1, 1, 1)
		if len(typo) >= 3 && strings.HasPrefix(n, typo) {
			d = min(d, 1)
		}
		if d < bestDist && d < len(n) {
			best, bestDist = n, d
		}
	}
	return best
}

// isGroup says whether a command holds others; urfave/cli gives every
// command a help subcommand.
func isGroup(cmd *cli.Command) bool {
	return slices.ContainsFunc(cmd.Subcommands, func(s *cli.Command) bool { return s.Name != "help" })
}

// setUsageHandlers gives every command Docker's handling of bad command
// lines: usage errors instead of urfave/cli's help dump, and groups that
// name the command a typo meant.
func setUsageHandlers(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = flagError
		if len(c.Subcommands) > 0 {
			c.Action = groupAction
			setUsageHandlers(c.Subcommands)
		}
	}
}
