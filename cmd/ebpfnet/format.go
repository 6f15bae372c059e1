package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
)

// templateFuncs are the functions Docker's --format templates have.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":    strings.Join,
	"split":   strings.Split,
	"lower":   strings.ToLower,
	"upper":   strings.ToUpper,
	"println": fmt.Sprintln,
	"truncate": func(s string, n int) string {
		if n < len(s) {
			return s[:n]
		}
		return s
	},
	"pad": func(s string, left, right int) string {
		return strings.Repeat(" ", left) + s + strings.Repeat(" ", right)
	},
}

// parseTemplate reads a --format template, taking \t and \n written out
// as a tab and a newline, as Docker does.
func parseTemplate(format string) (*template.Template, error) {
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	t, err := template.New("format").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

// writeFormat prints rows as Docker's --format does: "json" is a JSON
// object a line, "table TEMPLATE" a header of the columns' titles over
// aligned rows, anything else the template once a row.
func writeFormat(w io.Writer, format string, headers map[string]string, rows []any) error {
	body, isTable := strings.CutPrefix(format, "table ")
	if format == "json" {
		body = "{{json .}}"
	}
	tmpl, err := parseTemplate(strings.TrimSpace(body))
	if err != nil {
		return err
	}
	var tw *tabwriter.Writer
	if isTable {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		w = tw
		head := template.Must(tmpl.Clone()).Option("missingkey=zero")
		if err := execLine(w, head, headers); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if err := execLine(w, tmpl, r); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// execLine writes what a template makes of v, and a newline.
func execLine(w io.Writer, tmpl *template.Template, v any) error {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, v); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}
