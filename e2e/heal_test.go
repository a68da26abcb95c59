package e2e

import (
	"strings"
	"testing"

	"github.com/grifork/grifork/internal/fleet"
)

// TestStandaloneHeal stops a generation-1 host of a 12-host fleet (branches 3) and
// runs with --heal: the dead host fails, its three children are re-attached to
// live hosts and every other host gets a byte-identical copy.
func TestStandaloneHeal(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f, dir, app, gf := syncFleet(t, 12)
	hosts := f.Hosts()

	// hosts[1] is in generation 1 with children hosts[6..8].
	dead := hosts[1]
	if err := f.StopHost(dead); err != nil {
		t.Fatal(err)
	}
	r := runGrifork(t, dir, "--heal", "-f", gf)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (a host failed)", r.code)
	}
	if !strings.Contains(r.stdout, "11 ok, 1 failed, 0 skipped") {
		t.Errorf("summary does not count 11 ok and the dead host failed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "  "+dead+" (") {
		t.Errorf("summary does not list the dead host %s as failed:\n%s", dead, r.stdout)
	}
	for _, h := range hosts[6:9] {
		found := false
		for _, line := range strings.Split(r.stdout, "\n") {
			found = found || strings.HasPrefix(line, "  "+h+" to ") && strings.HasSuffix(line, "(parent "+dead+" failed)")
		}
		if !found {
			t.Errorf("summary does not say %s was re-attached:\n%s", h, r.stdout)
		}
	}
	checkAll(t, f, except(hosts, dead), localManifest(t, app))
}
