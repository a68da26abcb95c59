package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grifork/grifork/app"
)

// brokenWriter fails every write, as a closed pipe or a full disk does.
type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// Output that cannot be written fails the command: a plan, output lines or a
// summary that never reached the user must not exit 0.
func TestUnwritableOutput(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no real ~/.ssh/config or known_hosts
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"standalone plan", `hosts { "web1" } locally(function(src, dst) print("x") end)`, []string{"-n"}, "write the plan: "},
		{"grifork plan", `mode "grifork" hosts { "web1", "web2" } branches(1)`, []string{"-n"}, "write the plan: "},
		{"summary", `hosts { "web1" }`, nil, "write the summary: "},
		{"output", `hosts { "web1" } prepare(function() print("x") end)`, nil, "write the output: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gf := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".lua")
			if err := os.WriteFile(gf, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			code := Main(append([]string{"-f", gf}, tc.args...), strings.NewReader(""), brokenWriter{}, &stderr)
			if code != app.ExitFailed || !strings.Contains(stderr.String(), tc.want+"disk full") {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), app.ExitFailed, tc.want+"disk full")
			}
		})
	}
}
