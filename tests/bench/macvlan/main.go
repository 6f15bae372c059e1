package macvlan

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Main is `go run ./tests/bench macvlan [flags]`: Run with the flags, the
// table on stdout, progress on stderr, and with -out DIR macvlan.md and
// macvlan.json there.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench macvlan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := DefaultOptions()
	o.Flags(fs)
	quick := fs.Bool("quick", false, "smoke run: one round, each load for 1s on all sides at once (overrides -rounds and -duration)")
	out := fs.String("out", "", "also write macvlan.md and macvlan.json to this dir")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *quick {
		o.Quick()
	}
	o.Log = stderr
	o.Command = strings.Join(append([]string{"go run ./tests/bench macvlan"}, args...), " ")
	res, err := Run(ctx, o)
	if len(res.Samples) == 0 {
		return err
	}
	md := Markdown(res)
	fmt.Fprint(stdout, md)
	if *out != "" {
		werr := write(*out, md, res)
		if werr == nil {
			fmt.Fprintf(stderr, "wrote %s and %s\n", filepath.Join(*out, "macvlan.md"), filepath.Join(*out, "macvlan.json"))
		}
		err = errors.Join(err, werr)
	}
	return err
}

func write(dir, md string, res any) error {
	raw, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return errors.Join(os.WriteFile(filepath.Join(dir, "macvlan.json"), append(raw, '\n'), 0o644),
		os.WriteFile(filepath.Join(dir, "macvlan.md"), []byte(md), 0o644))
}
