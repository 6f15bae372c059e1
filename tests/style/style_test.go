// Package style holds the code-size rules of the repository as a test:
// no Go file over 400 lines outside generated code and tests, and no type
// with more than 30 methods, so no package grows back into one object.
package style

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	maxFileLines   = 400
	maxTypeMethods = 30
)

// sources are the repository's Go files the rules cover: not tests, not
// generated code.
func sources(t *testing.T) map[string]*ast.File {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	out := map[string]*ast.File{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "tests") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if !ast.IsGenerated(f) {
			rel, _ := filepath.Rel(root, path)
			out[rel] = f
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("found only %d Go files under %s", len(out), root)
	}
	return out
}

func TestFileLength(t *testing.T) {
	for path := range sources(t) {
		raw, err := os.ReadFile(filepath.Join("../..", path))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(raw), "\n"); n > maxFileLines {
			t.Errorf("%s has %d lines; split it (at most %d)", path, n, maxFileLines)
		}
	}
}

func TestMethodsPerType(t *testing.T) {
	count := map[string]int{} // package dir + type name
	for path, f := range sources(t) {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || len(fn.Recv.List) == 0 {
				continue
			}
			count[filepath.Dir(path)+"."+receiver(fn.Recv.List[0].Type)]++
		}
	}
	for typ, n := range count {
		if n > maxTypeMethods {
			t.Errorf("type %s has %d methods; give part of its job to another type (at most %d)", typ, n, maxTypeMethods)
		}
	}
}

func receiver(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return receiver(x.X)
	case *ast.IndexExpr: // generic receiver T[P]
		return receiver(x.X)
	case *ast.IndexListExpr:
		return receiver(x.X)
	case *ast.Ident:
		return x.Name
	}
	return "?"
}
