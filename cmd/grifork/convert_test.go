package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grifork/grifork/app"
	"github.com/grifork/grifork/core"
)

const rubyTestdata = "../../dsl/ruby/testdata"

// runMain runs the CLI in-process and returns its exit code and output.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestRubyPlanEqualsLua: a Ruby Griforkfile run directly (converted in memory)
// plans exactly what its hand-written Lua equivalent plans.
func TestRubyPlanEqualsLua(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // the plan needs no keys; no real ~/.ssh leaks in
	equivs, err := filepath.Glob(filepath.Join(rubyTestdata, "equiv", "*.lua"))
	if err != nil || len(equivs) < 6 {
		t.Fatalf("want at least 6 hand-written equivalents, found %d (%v)", len(equivs), err)
	}
	for _, lua := range equivs {
		name := strings.TrimSuffix(filepath.Base(lua), ".lua")
		t.Run(name, func(t *testing.T) {
			rb := filepath.Join(rubyTestdata, "corpus", name+".rb")
			codeRb, planRb, errRb := runMain(t, "-n", "-f", rb)
			codeLua, planLua, errLua := runMain(t, "-n", "-f", lua)
			if codeRb != 0 || codeLua != 0 {
				t.Fatalf("exit codes: ruby %d (%s), lua %d (%s)", codeRb, errRb, codeLua, errLua)
			}
			if !strings.Contains(errRb, "is a Ruby Griforkfile") {
				t.Errorf("no notice about the conversion on stderr: %q", errRb)
			}
			// The forks cite each file by its own name; the rest is the same.
			planRb = strings.ReplaceAll(planRb, core.ShellQuote(rb), "FILE")
			planLua = strings.ReplaceAll(planLua, core.ShellQuote(lua), "FILE")
			if planRb != planLua {
				t.Errorf("plans differ\n--- %s\n%s\n--- %s\n%s", rb, planRb, lua, planLua)
			}
			if !strings.Contains(planRb, "plan: mode") {
				t.Errorf("no plan printed:\n%s", planRb)
			}
		})
	}
}

// TestConvertCommand: `grifork convert FILE` prints the converter's golden Lua,
// and -o writes it to a file.
func TestConvertCommand(t *testing.T) {
	unsupported, err := filepath.Abs(filepath.Join(rubyTestdata, "unsupported", "def.rb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Join(rubyTestdata, "corpus")) // the goldens name the file as it is given
	for _, name := range []string{"readme", "standalone", "grifork_mode"} {
		rb := name + ".rb"
		want, err := os.ReadFile(name + ".lua.golden")
		if err != nil {
			t.Fatal(err)
		}
		code, out, stderr := runMain(t, "convert", rb)
		if code != 0 || out != string(want) {
			t.Errorf("convert %s: exit %d, stderr %q, output differs from the golden:\n%s", name, code, stderr, out)
		}
		dst := filepath.Join(t.TempDir(), name+".lua")
		if code, _, stderr := runMain(t, "convert", rb, "-o", dst); code != 0 {
			t.Fatalf("convert -o: exit %d: %s", code, stderr)
		}
		if got, err := os.ReadFile(dst); err != nil || string(got) != string(want) {
			t.Errorf("convert -o %s wrote something else (%v)", dst, err)
		}
	}
	code, _, stderr := runMain(t, "convert", unsupported)
	if code != app.ExitUsage || !strings.Contains(stderr, "unsupported Ruby construct") {
		t.Errorf("unsupported construct: exit %d, stderr %q; want %d and the converter's message", code, stderr, app.ExitUsage)
	}
}
