package ruby

import (
	"bytes"
	"errors"
	"github.com/grifork/grifork/internal/testkit/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

func files(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("no files match %s (%v)", pattern, err)
	}
	return m
}

func lineCount(b []byte) int {
	n := bytes.Count(b, []byte("\n"))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// checkLua asserts that out is Lua and has one line per Ruby line plus the footer.
func checkLua(t *testing.T, name string, src, out []byte) {
	t.Helper()
	if _, err := parse.Parse(bytes.NewReader(out), name); err != nil {
		t.Fatalf("%s: converted output is not Lua: %v\n%s", name, err, out)
	}
	if got, want := lineCount(out), max(lineCount(src), 1)+1; got != want {
		t.Fatalf("%s: %d Lua lines for %d Ruby lines (+1 footer)\n%s", name, got, want-1, out)
	}
}

func TestCorpus(t *testing.T) {
	t.Parallel()
	paths := files(t, "testdata/corpus/*.rb")
	if len(paths) < 15 {
		t.Errorf("corpus has %d files, want at least 15", len(paths))
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Convert(filepath.Base(path), src)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, strings.TrimSuffix(path, ".rb")+".lua.golden", string(out))
			checkLua(t, path, src, out)
			checkAligned(t, src, out)
			if !Detect(src) {
				t.Error("Detect = false for a Ruby Griforkfile")
			}
			if Detect(out) {
				t.Error("Detect = true for the converted Lua")
			}
		})
	}
}

// lineStarts maps how a Ruby line starts to how its Lua line must start.
var lineStarts = [][2]string{
	{"local do", "locally(function(src, dst)"}, {"local {", "locally(function(src, dst)"},
	{"remote do", "remote(function(src, dst)"}, {"prepare do", "prepare(function()"},
	{"finish do", "finish(function()"}, {"prepare_remote do", "prepare_remote(function()"},
	{"finish_remote do", "finish_remote(function()"}, {"grifork do", "grifork {"},
	{"hosts ", "hosts"}, {"branches ", "branches("}, {"log ", "log {"}, {"mode ", "mode"},
	{"sh ", "sh("}, {"rsync_remote ", "rsync_remote("}, {"puts ", "print("}, {"end", "end"},
	{"#", "--"}, {"chdir ", "chdir = "}, {"tmpdir ", "tmpdir = "}, {"exec ", "exec = "},
}

// checkAligned checks that recognisable Ruby lines have their Lua on the same line.
func checkAligned(t *testing.T, src, out []byte) {
	t.Helper()
	rl := strings.Split(string(src), "\n")
	ll := strings.Split(string(out), "\n")
	for i, r := range rl[:lineCount(src)] {
		r = strings.TrimSpace(r)
		l := strings.TrimSpace(ll[i])
		for _, s := range lineStarts {
			if r == "end" && l == "}" {
				continue // the end of a grifork block closes its table
			}
			if strings.HasPrefix(r, s[0]) && !strings.Contains(l, s[1]) {
				t.Errorf("line %d: Ruby %q became Lua %q, want it to contain %q", i+1, r, l, s[1])
			}
		}
		if r == "" && l != "" {
			t.Errorf("line %d: blank Ruby line became %q", i+1, l)
		}
	}
}

func TestUnsupported(t *testing.T) {
	t.Parallel()
	for _, path := range files(t, "testdata/unsupported/*.rb") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Convert(filepath.Base(path), src)
			if err == nil {
				t.Fatalf("converted without error:\n%s", out)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if strings.Contains(e.Msg, "internal error") {
				t.Fatalf("converter bug: %v", err)
			}
			golden.Check(t, strings.TrimSuffix(path, ".rb")+".err.golden", err.Error()+"\n")
			if !Detect(src) {
				t.Error("Detect = false for a Ruby Griforkfile")
			}
		})
	}
}

func TestDetectLua(t *testing.T) {
	t.Parallel()
	paths := append(files(t, "testdata/equiv/*.lua"), files(t, "testdata/corpus/*.lua.golden")...)
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parse.Parse(bytes.NewReader(src), path); err != nil {
			t.Errorf("%s: not Lua: %v", path, err)
		}
		if Detect(src) {
			t.Errorf("%s: Detect = true for Lua", path)
		}
	}
	for _, path := range files(t, "testdata/equiv/*.lua") {
		rb := strings.Replace(strings.TrimSuffix(path, ".lua")+".rb", "equiv", "corpus", 1)
		if _, err := os.Stat(rb); err != nil {
			t.Errorf("%s has no corpus file %s", path, rb)
		}
	}
	for _, src := range []string{
		"",
		"-- just a comment\n",
		"#!/usr/bin/env grifork\nmode \"grifork\"\n",
		"local n = 3\nbranches(n)\nhosts { \"a\", \"b\" }\n",
		"locally(function(src, dst)\n  rsync(\"/srv/app/\")\nend)\n",
		"local t = {}\nlocal len =\n  #t\n",
		"hosts { \"a\" -- %w(a)\n}\n",
		"log { file = \"x\" } -- mode :grifork\n",
	} {
		if Detect([]byte(src)) {
			t.Errorf("Detect = true for Lua %q", src)
		}
	}
	// a broken Lua file stays Lua, so that it gets the Lua error
	if Detect([]byte("hosts { \"a\", \n")) {
		t.Error("Detect = true for broken Lua")
	}
}

// TestRunsLineAligned runs converted Lua with stub DSL functions and checks that
// a runtime error names the Ruby line.
func TestRunsLineAligned(t *testing.T) {
	t.Parallel()
	src := "# comment\nAPP = '/srv/app'\n\nhosts %w(a b)\nlog file: APP +\n  '/log',\n  level: :info\nbranches ENV.fetch('GRIFORK_TEST_UNSET_VAR')\n"
	out, err := Convert("Griforkfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	defer L.Close()
	for _, n := range []string{"hosts", "log", "branches"} {
		L.SetGlobal(n, L.NewFunction(func(*lua.LState) int { return 0 }))
	}
	err = L.DoString(string(out))
	if err == nil || !strings.Contains(err.Error(), ":8:") || !strings.Contains(err.Error(), "GRIFORK_TEST_UNSET_VAR") {
		t.Fatalf("want an error on line 8 naming the variable, got %v\n%s", err, out)
	}
}

// TestExpandPath checks the Lua File.expand_path against what Ruby returns.
func TestExpandPath(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("PWD", "/work/dir")
	cases := []struct{ ruby, want string }{
		{"File.expand_path('~')", "/home/u"},
		{"File.expand_path('~/.ssh/id_ed25519')", "/home/u/.ssh/id_ed25519"},
		{"File.expand_path('app/../lib/./x/')", "/work/dir/lib/x"},
		{"File.expand_path('/a//b/..')", "/a"},
		{"File.expand_path('/')", "/"},
		{"File.expand_path('/../..')", "/"},
		{"File.expand_path('x', '/base')", "/base/x"},
		{"File.expand_path('x', '~/base')", "/home/u/base/x"},
		{"File.expand_path('/abs', '/base')", "/abs"},
		{"Dir.pwd", "/work/dir"},
		{"Dir.pwd + '/x'", "/work/dir/x"},
	}
	for _, c := range cases {
		// puts becomes print, which the test captures
		out, err := Convert("Griforkfile", []byte("got = "+c.ruby+"\nputs got\n"))
		if err != nil {
			t.Fatalf("%s: %v", c.ruby, err)
		}
		L := lua.NewState()
		var got string
		L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int { got = L.CheckString(1); return 0 }))
		if err := L.DoString(string(out)); err != nil {
			t.Fatalf("%s: %v\n%s", c.ruby, err, out)
		}
		L.Close()
		if got != c.want {
			t.Errorf("%s = %q, want %q", c.ruby, got, c.want)
		}
	}
}
