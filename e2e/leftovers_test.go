package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/internal/testkit/fleet"
	"github.com/grifork/grifork/node"
)

// leftovers lists what a run left running on a host: a grifork (fork or
// broadcast relay), an rsync, or a sleep (the tests' slow tasks), and the
// broadcast's staging directories under /srv/app.
func leftovers(f *fleet.Fleet, h string) ([]string, error) {
	procs, err := f.Procs(h)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range procs {
		args := strings.Fields(p.Cmdline)
		if len(args) == 0 {
			continue
		}
		switch prog := filepath.Base(args[0]); {
		case strings.Contains(p.Cmdline, "--on-remote"),
			len(args) >= 2 && args[1] == node.RelayFlag,
			prog == "rsync" || prog == "sleep":
			out = append(out, fmt.Sprintf("%d %s", p.PID, p.Cmdline))
		}
	}
	app, err := f.HostPath(h, "/srv/app")
	if err != nil {
		return nil, err
	}
	stage, _ := filepath.Glob(filepath.Join(app, ".grifork-stage-*"))
	return append(out, stage...), nil
}

// noLeftovers waits up to within until no host holds any leftovers, and fails
// the test with what is left then.
func noLeftovers(t *testing.T, f *fleet.Fleet, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var mu sync.Mutex
		left := map[string][]string{}
		forEachHost(t, f.Hosts(), func(h string) error {
			l, err := leftovers(f, h)
			mu.Lock()
			if len(l) > 0 {
				left[h] = l
			}
			mu.Unlock()
			return err
		})
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind on %d hosts: %v", len(left), left)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
