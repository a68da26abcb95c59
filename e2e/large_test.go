package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/fleet"
	"github.com/grifork/grifork/internal/testkit/gentime"
)

var largeFlag = flag.Bool("large", false, "run TestLarge200 (as GRIFORK_TEST_LARGE=1 does): a 200-host fleet, minutes on 2 cores")

// TestLarge200 runs grifork mode, branches 4, over a fleet of 200 unshaped
// hosts with a 2 MiB application, from a cold binary cache: every host must
// end with a byte-identical copy, and no grifork, rsync or run directory may
// be left on any host. It logs where the time went, per generation. Opt-in
// (make test-large): it takes minutes and most of the machine.
func TestLarge200(t *testing.T) {
	if !*largeFlag && os.Getenv("GRIFORK_TEST_LARGE") != "1" {
		t.Skip("a 200-host fleet: run with GRIFORK_TEST_LARGE=1 or -large (make test-large)")
	}
	fleet.Require(t)
	const n, branches = 200, 4
	f := fleet.StartT(t, fleet.Options{Hosts: n})
	hosts := f.Hosts()
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	makeApp(t, app)
	big := make([]byte, 2<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(app, "lib", "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	want := localManifest(t, app)
	// Not fleetFile: its 5 s ssh timeout is too short for 200 hosts on 2 busy
	// cores, where sshd may take longer to answer a new connection's banner.
	gf := filepath.Join(dir, "Griforkfile.lua")
	src := fmt.Sprintf("branches(%d)\nhosts %s\nssh { user = \"root\", keys = { %q }, known_hosts = %q, timeout = 60 }\n%s",
		branches, luaList(hosts), f.KeyFile(), f.KnownHostsFile(), griforkBody(app, ""))
	if err := os.WriteFile(gf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	reportFile := filepath.Join(dir, "report.json")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := griforkCmd(ctx, dir, nil, "-f", gf, "--report", reportFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	err := cmd.Run()
	took := time.Since(began)
	if err != nil {
		t.Fatalf("grifork: %v after %v\n%s", err, took, out.String())
	}
	if want := fmt.Sprintf("%d ok", n); !strings.Contains(out.String(), want) {
		t.Fatalf("summary lacks %q:\n%s", want, out.String())
	}
	r, err := gentime.Read(reportFile)
	if err != nil {
		t.Fatal(err)
	}
	if res := r.Results(); len(res) != n || r.Count(core.StatusOK) != n {
		t.Errorf("report: %d results, %d ok; want %d ok", len(res), r.Count(core.StatusOK), n)
	}
	var gens strings.Builder
	if err := gentime.Write(&gens, gentime.Of(r)); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d hosts, branches %d, cold: %v (load %s)\n%s", n, branches, took.Round(time.Millisecond), loadAvg(), gens.String())

	checkAll(t, f, hosts, want)
	noLeftovers(t, f, 10*time.Second)
	// The hosts that ran grifork keep the binary and nothing else; leaves got none.
	forEachHost(t, hosts, func(h string) error {
		c, err := cachedBinaries(f, h)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil && len(c) != 1 {
			err = fmt.Errorf("%s holds %v, want one binary", griforkTmp, c)
		}
		return err
	})
}

// loadAvg is the 1-minute load average, to read the timings by.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b) + " unknown")[0]
}
