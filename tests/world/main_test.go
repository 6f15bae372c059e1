package world

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	tidy := TidyCNICache()
	code := m.Run()
	tidy()
	os.Exit(code)
}
