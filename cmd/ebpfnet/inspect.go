package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/template"

	"github.com/urfave/cli/v2"
)

// inspectFlags are those of `docker network inspect` and `docker inspect`:
// --format, and --json, which inspect's JSON output makes a no-op.
func inspectFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "a Go template for each ({{.Name}}, ...), or json for one line"},
		&cli.BoolFlag{Name: "json", Usage: "print JSON (as inspect does anyway)"},
	}
}

// inspectAll prints what get finds for each name as Docker's inspect
// does: one JSON array of all found, [] if none, or the --format template
// once each; names not found fail the command after it printed the rest.
func inspectAll(c *cli.Context, get func(name string) (any, error)) error {
	names, err := minArgs(c, 1)
	if err != nil {
		return err
	}
	format := c.String("format")
	var tmpl *template.Template
	if format != "" && format != "json" {
		if tmpl, err = parseTemplate(format); err != nil {
			return err
		}
	}
	found := []any{}
	var errs []error
	for _, name := range names {
		v, err := get(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		found = append(found, v)
	}
	switch {
	case tmpl != nil:
		for _, v := range found {
			if err := execLine(os.Stdout, tmpl, v); err != nil {
				errs = append(errs, err)
			}
		}
	case format == "json":
		b, err := json.Marshal(found)
		if err != nil {
			return err
		}
		fmt.Println(string(b))
	default:
		if err := printJSON(found); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

func networkInspect(c *cli.Context) error {
	return inspectAll(c, func(name string) (any, error) { return client(c).Network(c.Context, name) })
}

func endpointInspect(c *cli.Context) error {
	return inspectAll(c, func(name string) (any, error) { return client(c).Endpoint(c.Context, name) })
}
