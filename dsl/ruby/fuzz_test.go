package ruby

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yuin/gopher-lua/parse"
)

// FuzzConvert checks that conversion never panics (not even into the recover
// at the API boundary), that errors are *Error with a line in the file, and that
// successful output is Lua with one line per Ruby line plus the footer.
func FuzzConvert(f *testing.F) {
	// testdata/fuzz/FuzzConvert holds the corpus files in Go's format plus
	// inputs that once failed; the globs keep new corpus files seeded too.
	for _, pattern := range []string{"testdata/corpus/*.rb", "testdata/unsupported/*.rb"} {
		paths, _ := filepath.Glob(pattern)
		for _, path := range paths {
			if b, err := os.ReadFile(path); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		Detect(src)
		out, err := Convert("fuzz.rb", src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if strings.Contains(e.Msg, "internal error") {
				t.Fatalf("converter bug: %v", err)
			}
			if e.Line < 1 || e.Line > lineCount(src)+1 {
				t.Fatalf("error line %d outside the file (%d lines): %v", e.Line, lineCount(src), err)
			}
			return
		}
		if _, err := parse.Parse(bytes.NewReader(out), "fuzz.lua"); err != nil {
			t.Fatalf("output is not Lua: %v\n--- Ruby\n%s\n--- Lua\n%s", err, src, out)
		}
		if got, want := lineCount(out), max(lineCount(src), 1)+1; got != want {
			t.Fatalf("%d Lua lines for %d Ruby lines\n--- Ruby\n%q\n--- Lua\n%s", got, want-1, src, out)
		}
	})
}
