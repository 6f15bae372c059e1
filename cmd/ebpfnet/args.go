package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves the flags of the command an argument list names ahead
// of its positional arguments, so `network create web --subnet X` works as
// Docker's CLI does, and the app's own flags (--socket) to the front from
// wherever they are, so `daemon start --socket P` works too; urfave/cli
// stops reading flags at the first positional and reads a flag only at
// the level that defines it. With -h or --help the positionals go, so
// `endpoint create -h x` shows the help, as Docker's does.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var globals, path, opts, pos []string
	rest := args[1:]
	flags := app.Flags
	cmds := app.Commands
	inPath, help := true, false
	for len(rest) > 0 {
		tok := rest[0]
		switch {
		case tok == "--":
			pos = append(pos, rest[1:]...)
			rest = nil
			continue
		case strings.HasPrefix(tok, "-") && tok != "-":
			n := flagLen([][]cli.Flag{flags, app.Flags}, rest)
			help = help || isHelp(flags, tok)
			switch {
			case !defines(flags, tok) && defines(app.Flags, tok):
				globals = append(globals, rest[:n]...)
			case inPath:
				path = append(path, rest[:n]...)
			default:
				opts = append(opts, rest[:n]...)
			}
			rest = rest[n:]
			continue
		}
		if inPath {
			if cmd := findCommand(cmds, tok); cmd != nil {
				path = append(path, tok)
				flags, cmds = cmd.Flags, cmd.Subcommands
				inPath = len(cmds) > 0
				rest = rest[1:]
				continue
			}
			inPath = false
		}
		pos = append(pos, tok)
		rest = rest[1:]
	}
	out := append(append(append([]string{args[0]}, globals...), path...), opts...)
	if help {
		return out
	}
	if len(pos) > 0 {
		out = append(out, "--")
	}
	return append(out, pos...)
}

// isHelp says whether tok is the help flag, which no command defines as
// its own.
func isHelp(flags []cli.Flag, tok string) bool {
	return (tok == "-h" || tok == "--help") && !defines(flags, tok)
}

// defines says whether the flag token tok names one of flags.
func defines(flags []cli.Flag, tok string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(tok, "-"), "=")
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// flagLen is how many tokens the flag at args[0] takes: 1 for booleans and
// --name=value, 2 for a flag whose value is the next token. The flag is
// looked up in each set in turn.
func flagLen(sets [][]cli.Flag, args []string) int {
	name, _, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
	if hasValue || len(args) < 2 {
		return 1
	}
	for _, flags := range sets {
		for _, f := range flags {
			if !slices.Contains(f.Names(), name) {
				continue
			}
			if _, isBool := f.(*cli.BoolFlag); isBool {
				return 1
			}
			return 2
		}
	}
	if name == "help" || name == "h" || name == "version" || name == "v" {
		return 1
	}
	return 2
}

// exactArgs returns exactly n positional arguments or Docker's usage error.
func exactArgs(c *cli.Context, n int) ([]string, error) {
	if c.NArg() != n {
		return nil, newUsageError(c.Command, exitError, "'%s' requires %d %s", c.Command.HelpName, n, plural("argument", n))
	}
	return c.Args().Slice(), nil
}

// minArgs returns the positional arguments if there are at least n.
func minArgs(c *cli.Context, n int) ([]string, error) {
	if c.NArg() < n {
		return nil, newUsageError(c.Command, exitError, "'%s' requires at least %d %s", c.Command.HelpName, n, plural("argument", n))
	}
	return c.Args().Slice(), nil
}

// maxArgs returns the positional arguments if there are at most n.
func maxArgs(c *cli.Context, n int) ([]string, error) {
	if c.NArg() > n {
		return nil, newUsageError(c.Command, exitError, "'%s' requires at most %d %s", c.Command.HelpName, n, plural("argument", n))
	}
	return c.Args().Slice(), nil
}

// noArgs refuses positional arguments.
func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return newUsageError(c.Command, exitError, "'%s' accepts no arguments", c.Command.HelpName)
	}
	return nil
}

func plural(word string, n int) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
