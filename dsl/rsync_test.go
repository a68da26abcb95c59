package dsl

import (
	"context"
	"fmt"
	"github.com/grifork/grifork/internal/testkit/golden"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

// rawRsh are array forms of the rsync directive that choose the remote shell, in
// every way rsync reads one.
var rawRsh = []struct {
	name string
	raw  []string
}{
	{"combined short options", []string{"-avze", "/user/rsh -p 2222"}},
	{"-e and a word", []string{"-az", "-e", "/user/rsh"}},
	{"-e joined", []string{"-az", "-e/user/rsh"}},
	{"--rsh=", []string{"-az", "--rsh=/user/rsh"}},
	{"--rsh and a word", []string{"-az", "--rsh", "/user/rsh"}},
	{"no remote shell", []string{"-az", "--delete"}},
}

// TestRsyncArgv is the golden argv of the rsync helper for each form: the
// derived --rsh comes before the raw options, so the user's wins.
func TestRsyncArgv(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for _, tc := range rawRsh {
		argv := buildRsyncArgv(core.RsyncConfig{Raw: tc.raw}, "ssh -p 22", "/a/", "web1:/a/")
		fmt.Fprintf(&b, "%s: %s\n", tc.name, strings.Join(quoteEach(argv), " "))
	}
	golden.Check(t, "testdata/rsync_argv.golden", b.String())
}

// TestRsyncArgvUserShellWins runs the real rsync with each argv: the remote
// shell it tries to start is the user's, not the derived one.
func TestRsyncArgvUserShellWins(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed")
	}
	for _, tc := range rawRsh {
		if tc.name == "no remote shell" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			argv := buildRsyncArgv(core.RsyncConfig{Raw: tc.raw}, "/derived/rsh", t.TempDir()+"/", "web1:/a/")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, _ := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
			if !strings.Contains(string(out), "/user/rsh") || strings.Contains(string(out), "/derived/rsh") {
				t.Errorf("rsync %q started another shell than the user's:\n%s", argv[1:], out)
			}
		})
	}
}
