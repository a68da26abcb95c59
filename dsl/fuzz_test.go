package dsl

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core/output"
)

// FuzzLoad checks that loading any text never panics (not even into the recover
// at the VM goroutine's boundary) and that every error is one *Error line that
// names the file and a line in it.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"testdata/errors/*.lua", "../examples/*.lua", "../cmd/grifork/testdata/plan/*.lua"} {
		paths, _ := filepath.Glob(pattern)
		for _, path := range paths {
			if b, err := os.ReadFile(path); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		// Top-level code may loop: the VM stops between instructions when ctx ends.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := Load(ctx, Source{Name: "fuzz.lua", Content: src}, nil, Options{Printer: output.NewPrinter(io.Discard, nil)})
		if err == nil {
			s.Close()
			return
		}
		if ctx.Err() != nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T is not *Error: %v", err, err)
		}
		if strings.Contains(e.Msg, "internal error") {
			t.Fatalf("loader bug: %v", err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("error is not one line: %q", err)
		}
		if e.File != "fuzz.lua" || e.Line < 1 || e.Line > countLines(src)+1 { // +1: an unterminated string ends past the last newline
			t.Fatalf("error names %s:%d, not a line of fuzz.lua (%d lines): %v", e.File, e.Line, countLines(src), err)
		}
	})
}
