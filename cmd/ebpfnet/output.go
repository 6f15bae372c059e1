package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
)

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJSONLine prints v as JSON on one line.
func printJSONLine(v any) error { return json.NewEncoder(os.Stdout).Encode(v) }

// table prints rows under a header, aligned.
type table struct{ w *tabwriter.Writer }

func newTable(header ...string) *table {
	t := &table{w: tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

// row buffers a row; a write error comes back from flush, where the
// tabwriter writes out.
func (t *table) row(cols ...string) { _, _ = fmt.Fprintln(t.w, strings.Join(cols, "\t")) }

func (t *table) flush() error { return t.w.Flush() }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
