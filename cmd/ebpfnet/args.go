package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves the flags of the command an argument list names ahead
// of its positional arguments, so `network create web --subnet X` works as
// Docker's CLI does; urfave/cli stops reading flags at the first positional.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	flags := app.Flags
	cmds := app.Commands
	// Walk the command path, keeping global and group flags where they are.
	for len(rest) > 0 {
		tok := rest[0]
		if strings.HasPrefix(tok, "-") {
			n := flagLen(flags, rest)
			out = append(out, rest[:n]...)
			rest = rest[n:]
			continue
		}
		cmd := findCommand(cmds, tok)
		if cmd == nil {
			break
		}
		out = append(out, tok)
		rest = rest[1:]
		flags, cmds = cmd.Flags, cmd.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	var opts, pos []string
	for len(rest) > 0 {
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		if strings.HasPrefix(rest[0], "-") && rest[0] != "-" {
			n := flagLen(flags, rest)
			opts = append(opts, rest[:n]...)
			rest = rest[n:]
			continue
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	out = append(out, opts...)
	if len(pos) > 0 {
		out = append(out, "--")
	}
	return append(out, pos...)
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
// --name=value, 2 for a flag whose value is the next token.
func flagLen(flags []cli.Flag, args []string) int {
	name, _, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
	if hasValue || len(args) < 2 {
		return 1
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
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
