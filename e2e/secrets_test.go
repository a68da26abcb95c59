package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grifork/grifork/internal/testkit/fleet"
)

// spyGrifork is grifork { exec } on every node of TestSecretsNeverOnNodeDisk:
// at the moment the node's grifork starts (its run directory made, before it
// reads anything), it lists that directory and records every file under the
// node's /tmp and /root that holds a marker of the Griforkfile's text, then
// runs the real grifork.
const spyGrifork = `#!/bin/sh
for a; do [ "$prev" = --tree ] && ls -A "$(dirname "$a")" >>/srv/spy-runs.log; prev=$a; done
grep -rlF -e split-secret -e esc-secret /tmp /root >>/srv/spy-leaks.log 2>/dev/null
exec /srv/bin/grifork "$@"
`

// A grifork-mode run whose secrets are written so that no scrubbing of
// literals could find them (a concatenation, a decimal escape): the
// Griforkfile travels in memory, so no node's disk ever holds its text.
func TestSecretsNeverOnNodeDisk(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f := fleet.StartT(t, fleet.Options{Hosts: 4})
	hosts := f.Hosts()
	bin, err := os.ReadFile(griforkBin)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		dir, err := f.HostPath(h, "/srv/bin")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{"grifork": bin, "grifork-spy": []byte(spyGrifork)} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := t.TempDir()
	gf := filepath.Join(dir, "Griforkfile.lua")
	// A chain (branches 1): every host but the last runs a grifork of its own.
	src := fmt.Sprintf(`mode "grifork"
branches(1)
hosts %s
grifork { tmpdir = %q, chdir = "/tmp", exec = "/srv/bin/grifork-spy" }
local PW = "e2e-" .. "split-secret"
ssh { user = "root", keys = { %q }, known_hosts = %q, timeout = 5, password = PW, passphrase = "e2e\037esc-secret" }
locally(function(src, dst) ssh(dst, "true") end)
remote(function(src, dst) ssh(dst, "true") end)
`, luaList(hosts), griforkTmp, f.KeyFile(), f.KnownHostsFile())
	if err := os.WriteFile(gf, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runGrifork(t, dir, "-f", gf); r.code != 0 {
		t.Fatalf("exit %d, want 0", r.code)
	}
	forEachHost(t, hosts[:len(hosts)-1], func(h string) error {
		runs, err := os.ReadFile(hostFile(t, f, h, "/srv/spy-runs.log"))
		if err != nil {
			return fmt.Errorf("its grifork did not start through the spy: %w", err)
		}
		var errs []error
		if got := strings.TrimSpace(string(runs)); got != "tree.json" {
			errs = append(errs, fmt.Errorf("the run directory held %q, want only tree.json", got))
		}
		if leaks, _ := os.ReadFile(hostFile(t, f, h, "/srv/spy-leaks.log")); len(leaks) > 0 {
			errs = append(errs, fmt.Errorf("files holding the Griforkfile's secrets while its grifork started:\n%s", leaks))
		}
		return errors.Join(errs...)
	})
	// And nothing afterwards, on any host.
	forEachHost(t, hosts, func(h string) error {
		out, err := f.Exec(t.Context(), h, "sh", "-c", `grep -rlF -e split-secret -e esc-secret -e "$1" /tmp /root; true`, "sh", "e2e%esc-secret")
		if err != nil {
			return err
		}
		if len(out) > 0 {
			return fmt.Errorf("left on disk holding a secret:\n%s", out)
		}
		return nil
	})
}

func hostFile(t *testing.T, f *fleet.Fleet, h, p string) string {
	t.Helper()
	path, err := f.HostPath(h, p)
	if err != nil {
		t.Fatal(err)
	}
	return path
}
