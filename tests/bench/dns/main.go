package dns

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

// Main is `go run ./tests/bench dns [flags]`: Run with the flags, the
// table on stdout, progress on stderr, and with -out DIR dns.md and
// dns.json there.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench dns", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := DefaultOptions()
	o.Flags(fs)
	out := fs.String("out", "", "also write dns.md and dns.json to this dir")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.Log = stderr
	res, err := Run(ctx, o)
	if len(res.Sides) == 0 {
		return err
	}
	md := Markdown(res)
	fmt.Fprint(stdout, md)
	if *out != "" {
		raw, jerr := json.MarshalIndent(res, "", "  ")
		if jerr == nil {
			jerr = os.MkdirAll(*out, 0o755)
		}
		if jerr == nil {
			jerr = os.WriteFile(filepath.Join(*out, "dns.json"), raw, 0o644)
		}
		if jerr == nil {
			jerr = os.WriteFile(filepath.Join(*out, "dns.md"), []byte(md), 0o644)
		}
		err = errors.Join(err, jerr)
		if jerr == nil {
			fmt.Fprintf(stderr, "wrote %s\n", strings.Join([]string{filepath.Join(*out, "dns.md"), filepath.Join(*out, "dns.json")}, ", "))
		}
	}
	return err
}
