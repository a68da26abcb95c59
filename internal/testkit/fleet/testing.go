package fleet

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// missing says why a fleet cannot start here, or "" when it can.
func missing() string {
	if os.Geteuid() != 0 {
		return "needs root (network and mount namespaces)"
	}
	var lack []string
	if _, err := os.Stat(sshdPath); err != nil {
		lack = append(lack, sshdPath+" (openssh-server)")
	}
	for _, tool := range []string{"ssh", "rsync", "ip", "tc", "nsenter", "unshare", "mount", "sleep"} {
		if _, err := exec.LookPath(tool); err != nil {
			lack = append(lack, tool)
		}
	}
	if len(lack) > 0 {
		return "missing " + strings.Join(lack, ", ") + " (scripts/deps.sh installs them)"
	}
	return ""
}

// Require skips the test when a fleet cannot run here (not root, or sshd, rsync
// or iproute2 missing); with CI=true it fails instead, so CI never skips silently.
func Require(t testing.TB) {
	t.Helper()
	reason := missing()
	if reason == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("test fleet: %s", reason)
	}
	t.Skipf("test fleet: %s", reason)
}

// StartT calls Require, starts a fleet and closes it when the test ends (also when
// it fails or panics). Progress goes to t.Logf unless opts.Logf is set.
func StartT(t testing.TB, opts Options) *Fleet {
	t.Helper()
	Require(t)
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	// A second per host beyond 120: a 200-host fleet on 2 busy cores takes minutes.
	ctx, cancel := context.WithTimeout(context.Background(), max(2*time.Minute, time.Duration(opts.Hosts)*time.Second))
	defer cancel()
	f, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start test fleet: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("close test fleet: %v", err)
		}
	})
	return f
}
