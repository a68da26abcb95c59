package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// binaryHash is the only part of a plan that changes with every build: the
// self-shipped binary's name carries its SHA-256.
var binaryHash = regexp.MustCompile(`grifork-[0-9a-f]{12}\b`)

// TestExamplePlans dry-runs every example, and every testdata/plan/*.lua, and
// compares the whole plan with testdata/plan/<name>.golden (-update rewrites them).
func TestExamplePlans(t *testing.T) {
	t.Setenv("HOME", "/home/operator") // plans show ~ as written; nothing is read from here
	t.Setenv("SSH_AUTH_SOCK", "")      // the login lines say whether an agent is offered
	setExampleEnv(t)
	examples, err := filepath.Glob("../../examples/Griforkfile.*.lua")
	if err != nil || len(examples) < 3 {
		t.Fatalf("examples: %v, %v", examples, err)
	}
	cases, err := filepath.Glob("testdata/plan/*.lua")
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range append(examples, cases...) {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(ex), "Griforkfile."), ".lua")
		t.Run(name, func(t *testing.T) {
			code, out, stderr := runMain(t, "-n", "-f", ex)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			out = binaryHash.ReplaceAllString(out, "grifork-HASH")
			golden := filepath.Join("testdata", "plan", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("plan of %s differs from %s (go test -update rewrites it):\n%s", ex, golden, out)
			}
		})
	}
}

// setExampleEnv sets what the examples read from the environment: what
// scripts/demo.sh passes to the demo files (a plan reads none of the paths), and
// no APP_SRC, so the grifork example ships its default, /srv/app/.
func setExampleEnv(t *testing.T) {
	t.Helper()
	for k, v := range map[string]string{
		"GRIFORK_DEMO_SRC":         "/tmp/demo/app",
		"GRIFORK_DEMO_HOSTS":       "198.18.0.2 198.18.0.3 198.18.0.4 198.18.0.5 198.18.0.6",
		"GRIFORK_DEMO_LOG":         "/tmp/demo/grifork.log",
		"GRIFORK_DEMO_KEY":         "/tmp/demo/id_ed25519",
		"GRIFORK_DEMO_KNOWN_HOSTS": "/tmp/demo/known_hosts",
	} {
		t.Setenv(k, v)
	}
	t.Setenv("APP_SRC", "") // restored after the test
	os.Unsetenv("APP_SRC")
}

// A grifork-mode dry run with --heal plans the same edges, and each fork hands
// --heal on to its node.
func TestGriforkPlanHeal(t *testing.T) {
	t.Setenv("HOME", "/home/operator")
	ex := "../../examples/Griforkfile.grifork.lua"
	code, plain, stderr := runMain(t, "-n", "-f", ex)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, healed, stderr := runMain(t, "-n", "--heal", "-f", ex)
	if code != 0 {
		t.Fatalf("--heal: exit %d: %s", code, stderr)
	}
	forks := strings.Count(plain, "\n    fork ")
	if forks == 0 || strings.Count(healed, " --on-remote ") != forks || strings.Count(healed, " --heal --run ") != forks {
		t.Errorf("want each of the %d forks with --heal:\n%s", forks, healed)
	}
	if got := strings.ReplaceAll(healed, " --heal --run ", " --run "); got != plain {
		t.Errorf("--heal changes more than the fork command lines:\n%s", healed)
	}
}
