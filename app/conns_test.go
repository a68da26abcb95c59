package app

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grifork/grifork/internal/testkit/sshdtest"
)

// A standalone run over 13 hosts closes each host's connection once its work
// is done, during the run; under max_connections = 2 it still ends well with
// never more than 2 open.
func TestStandaloneConnections(t *testing.T) {
	sshdtest.NeedRoot(t)
	s := sshdtest.Start(t, sshdtest.Opts{})
	f := sshdtest.Forward(t, s, 13)
	var hosts []string
	for _, h := range f.Hosts {
		hosts = append(hosts, fmt.Sprintf("%q", h.String()))
	}
	for _, tc := range []struct {
		name     string
		max      string
		released int // hosts whose connection the run released
		peak     string
	}{
		{"default bound", "", 13, "peak=12 max_connections=1024"}, // generation 2 and its sources; without releases, 13
		{"bound of 2", ", max_connections = 2", -1, "peak=2 max_connections=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("HOME", dir)
			logFile := filepath.Join(dir, "grifork.log")
			gf := filepath.Join(dir, "Griforkfile.lua")
			write(t, gf, fmt.Sprintf(`hosts { %s }
branches(3)
log { file = %q, level = "debug" }
ssh { user = "root", keys = { %q }, known_hosts = %q, timeout = 60%s } -- a loaded machine: slow handshakes
locally(function(src, dst) ssh(dst, "true") end)
remote(function(src, dst) ssh(src, "true"); ssh(dst, "true") end)
`, strings.Join(hosts, ", "), logFile, s.UserKey, f.KnownHosts, tc.max))
			var stdout, stderr bytes.Buffer
			if code := runCLI([]string{"-f", gf, "--progress=never"}, strings.NewReader(""), &stdout, &stderr); code != ExitOK {
				t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
			}
			log := read(t, logFile)
			during, _, _ := strings.Cut(log, `msg="run end"`)
			if n := strings.Count(during, `msg="ssh connection closed: not needed now"`) - strings.Count(during, "released=false"); tc.released >= 0 && n != tc.released {
				t.Errorf("%d hosts released during the run, want %d:\n%s", n, tc.released, log)
			}
			if !strings.Contains(log, tc.peak) {
				t.Errorf("the log does not say %q:\n%s", tc.peak, log)
			}
		})
	}
}
