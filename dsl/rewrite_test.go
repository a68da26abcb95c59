package dsl

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// list is a Lua list of n quoted items, one per line: the same string prefix for
// the first n-100, then prefix1, prefix2, ... (gopher-lua compiles n distinct
// constants in O(n²) time; only the items around and beyond 25,550 need names).
func list(prefix string, n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i <= n-100 {
			fmt.Fprintf(&b, "  %q,\n", prefix)
		} else {
			fmt.Fprintf(&b, "  %q,\n", fmt.Sprint(prefix, i))
		}
	}
	return b.String()
}

// hostList is a hosts { } body of n distinct names h1..hn.
func hostList(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  \"h%d\",\n", i)
	}
	return b.String()
}

// Table literals longer than gopher-lua's OP_SETLIST can address come out whole:
// top-level, nested in a directive's table, and inside a task block.
func TestLongTableLiterals(t *testing.T) {
	t.Parallel()
	const n = 26000
	for _, tt := range []struct {
		name  string
		src   string
		check func(*Script) error
	}{
		{"hosts", "hosts {\n" + hostList(n) + "}\n", func(s *Script) error {
			if len(s.Config.Hosts) != n || s.Config.Hosts[0].Name != "h1" || s.Config.Hosts[n-1].Name != fmt.Sprint("h", n) {
				return fmt.Errorf("%d hosts, first %v, last %v", len(s.Config.Hosts), s.Config.Hosts[0], s.Config.Hosts[len(s.Config.Hosts)-1])
			}
			return nil
		}},
		{"nested excludes", "hosts { \"a\" }\nrsync { delete = true, excludes = {\n" + list("x", n) + "}, bwlimit = 10 }\n", func(s *Script) error {
			ex := s.Config.Rsync.Excludes
			if len(ex) != n || ex[0] != "x" || ex[n-101] != "x" || ex[n-100] != fmt.Sprint("x", n-99) || ex[n-1] != fmt.Sprint("x", n) || s.Config.Rsync.Bwlimit != 10 {
				return fmt.Errorf("%d excludes, bwlimit %d", len(ex), s.Config.Rsync.Bwlimit)
			}
			return nil
		}},
		{"mixed fields and nesting", "local t = { name = \"n\", {\n" + strings.Repeat("\"y\",\n", n) + "}, \"after\",\n" + strings.Repeat("\"z\",\n", n) + "}\n" +
			fmt.Sprintf("assert(#t == %d and t.name == \"n\" and #t[1] == %d and t[1][%d] == \"y\" and t[2] == \"after\" and t[%d] == \"z\", \"wrong table\")\n", n+2, n, n, n+2) +
			"hosts { \"a\" }\n", func(*Script) error { return nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Load(context.Background(), Source{Name: "big.lua", Content: []byte(tt.src)}, nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := tt.check(s); err != nil {
				t.Error(err)
			}
		})
	}
}

// The other cases that gopher-lua compiles wrongly come out right too, or, for a
// final call whose values cannot be placed, fail at its line.
func TestTableLiteralFlushes(t *testing.T) {
	t.Parallel()
	items := func(n int) string { // "1, 2, ..., n, "
		var b strings.Builder
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "%d, ", i)
		}
		return b.String()
	}
	const prelude = "local function f() return \"x\", \"y\" end\nlocal g = \"g\"\n"
	for _, tt := range []struct {
		name, src, err string
	}{
		{"key after 50 items", "local t = { " + items(50) + "k = f(), [g] = g }\n" +
			"assert(t[1] == 1 and t[2] == 2 and t[50] == 50 and #t == 50 and t.k == \"x\" and t.g == \"g\")", ""},
		{"keys between 100 items", "local t = { " + items(50) + "k = g, " + items(50) + "[1000] = f() }\n" +
			"assert(t[1] == 1 and t[51] == 1 and t[100] == 50 and t.k == \"g\" and t[1000] == \"x\")", ""},
		{"call after 49 items", "local t = { " + items(49) + "f() }\nassert(#t == 51 and t[1] == 1 and t[50] == \"x\" and t[51] == \"y\")", ""},
		{"call after 50 items", "local t = {\n" + items(50) + "\nf() }", "big.lua:5: the values of this call or '...' at the end of a table after 50 items would land in the wrong place"},
		{"call in parentheses after 50 items", "local t = { " + items(50) + "(f()) }\nassert(#t == 51 and t[1] == 1 and t[51] == \"x\")", ""},
		{"call after a key after 50 items", "local t = { " + items(50) + "k = 1, f() }", "big.lua:3: the values of this call or '...' at the end of a table after 50 items"},
		{"call after 26000 items", "local t = {\n" + list("x", 26000) + "  f()\n}\n", "big.lua:26004: the values of this call or '...' at the end of a table after 26000 items"},
		{"nesting too deep", "local x = " + strings.Repeat("{", 60000) + strings.Repeat("}", 60000), "big.lua:3: statements or expressions nested more than 50000 levels deep"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Load(context.Background(), Source{Name: "big.lua", Content: []byte(prelude + tt.src + "\n")}, nil, Options{})
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

// Tail calls keep their results; runaway recursion, tail calls included, ends in
// an error at its line instead of growing without bound.
func TestCallDepth(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, src, err string
	}{
		{"tail call results", `local function g() return 1, nil, 3 end
local function h() return g() end
local o = { v = 7 }
function o:m(x) return self.v, x end
local function k() return o:m(8) end
local a, b, c = h()
assert(select("#", h()) == 3 and a == 1 and b == nil and c == 3)
local v, x = k()
assert(v == 7 and x == 8)`, ""},
		{"deep tail recursion within the limit", `local function loop(i) if i == 0 then return "done" end return loop(i - 1) end
assert(loop(4000) == "done")`, ""},
		{"runaway tail call", "local function f() return f() end\nf()", "r.lua:1: lua callstack overflow"},
		{"runaway recursion", "local function f() return 1 + f() end\nf()", "r.lua:1: lua callstack overflow"},
		{"runaway arguments", "local function f(...) return f(1, ...) end\nf()", "r.lua:1: registry overflow"},
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
