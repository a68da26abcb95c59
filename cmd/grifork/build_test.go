package main

import (
	"debug/elf"
	"os"
	"path/filepath"
	"testing"
)

// TestBuiltBinaryIsStripped checks the grifork that make build leaves in
// bin/: without a symbol table and DWARF, since a cold broadcast and grifork
// mode ship it to every host (about 5 MB compressed against 9.5). make test
// builds it first; a plain go test without it skips, except under CI.
func TestBuiltBinaryIsStripped(t *testing.T) {
	t.Parallel()
	bin := filepath.Join("..", "..", "bin", "grifork")
	f, err := elf.Open(bin)
	if os.IsNotExist(err) && os.Getenv("CI") != "true" {
		t.Skipf("%s: not built (make build)", bin)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, name := range []string{".symtab", ".debug_info", ".zdebug_info"} {
		if f.Section(name) != nil {
			t.Errorf("%s has a %s section: build it with make build (-ldflags '-s -w')", bin, name)
		}
	}
}
