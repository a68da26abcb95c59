package dsl

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// Results too large to allocate safely are Lua errors at their line, not a Go
// crash dump; ordinary uses are unchanged.
func TestStringLimits(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, src, err string
	}{
		{"rep", `assert(string.rep("ab", 3) == "ababab" and ("x"):rep(0) == "" and ("x"):rep(-1) == "")`, ""},
		{"rep too large", `local s = string.rep("abcd", 1e9)`, "r.lua:1: string.rep: the result would be over 256 MiB"},
		{"rep too large as a method", `local s = ("x"):rep(2^40)`, "r.lua:1: string.rep: the result would be over 256 MiB"},
		{"format", `assert(string.format("%5d|%-3s|%.2f|%%100d|%s", 42, "a", 1.5, "z") == "   42|a  |1.50|%100d|z")`, ""},
		{"format width too long", `local s = string.format("%999999999d", 1)`, `r.lua:1: string.format: invalid format "%999999999" (width or precision too long)`},
		{"format precision too long", `local s = ("%.500f"):format(1)`, `r.lua:1: string.format: invalid format "%.500" (width or precision too long)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Load(context.Background(), Source{Name: "r.lua", Content: []byte(tt.src + "\n")}, nil, Options{})
			if err == nil {
				s.Close()
			}
			switch {
			case tt.err == "" && err != nil:
				t.Fatal(err)
			case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)):
				t.Fatalf("error %v, want %q...", err, tt.err)
			}
		})
	}
}

// A top level that grows without bound stops at the memory limit with an error
// at the line it was running.
func TestTopLevelMemoryLimit(t *testing.T) {
	t.Parallel()
	src := "local t = {}\nwhile true do\n  t[#t + 1] = string.rep(\"x\", 1e5) .. #t\nend\n"
	_, err := Load(context.Background(), Source{Name: "r.lua", Content: []byte(src)}, nil, Options{maxHeap: 64 << 20})
	if err == nil || !regexp.MustCompile(`^r.lua:[23]: out of memory: the Griforkfile's top level used more than 64 MiB$`).MatchString(err.Error()) {
		t.Fatalf("error %v, want the memory limit at line 2 or 3", err)
	}
}
