package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/internal/testkit/fleet"
)

// sentLine is a progress line of the broadcast on output that is not a
// terminal: a plain line with the bytes sent, of how many, and the rate.
var sentLine = regexp.MustCompile(`^broadcast  sent ([0-9.]+) (B|KiB|MiB) of ([0-9.]+) MiB \(([0-9]+)%\)  ([0-9.]+) (B|KiB|MiB)/s  [0-3]/3 hosts done$`)

// TestBroadcastKindsAndProgress: one broadcast to an empty host, an outdated
// host and a current host says, per host, in --report and in r.broadcast, how
// many bytes it received and wrote and whether it was a full copy, an update
// or already current; and --progress always, its output a pipe, prints the
// bytes sent and the rate as plain lines while the stream goes.
func TestBroadcastKindsAndProgress(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	// 40 Mbit/s: the 16 MiB file takes over 3 s, so the line is printed while the stream goes.
	f := fleet.StartT(t, fleet.Options{Hosts: 3, RateMbit: 40})
	hosts := f.Hosts()
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	makeBroadcastApp(t, app, 16)
	gf := fleetFile(t, dir, f, hosts, 1, fmt.Sprintf(`broadcast { from = %q, to = "/srv/app/", excludes = { ".git" } }
finish(function(report)
  for _, r in ipairs(report.results) do
    local b = r.broadcast
    print(string.format("r.broadcast %%s %%s %%s %%d %%d", r.host, b.status, b.kind, b.received, b.written))
  end
end)`, app+"/"))
	cp := filepath.Join(t.TempDir(), "want")
	if out, err := exec.Command("cp", "-a", app, cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	os.RemoveAll(filepath.Join(cp, ".git"))
	want := bcLocalManifest(t, cp)
	total := treeSize(t, app)

	if r := runGrifork(t, dir, "-f", gf); r.code != 0 {
		t.Fatalf("the first broadcast: exit %d", r.code)
	}
	bcCheck(t, f, hosts, want)

	// The broadcast's chain is hosts[0] -> [1] -> [2]: the empty host first,
	// so the stream passes through it to the others.
	empty, outdated, current := hosts[0], hosts[1], hosts[2]
	if _, err := f.Exec(context.Background(), empty, "rm", "-rf", "/srv/app"); err != nil {
		t.Fatal(err)
	}
	op, err := f.HostPath(outdated, "/srv/app")
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, filepath.Join(op, "lib/mod01/pkg1/file01.bin"), 3000) // another size: its content travels
	if err := os.Remove(filepath.Join(op, "run.sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(op, "stray"), []byte("not in the source\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(app, "lib/mod01/pkg1/file01.bin"))
	if err != nil {
		t.Fatal(err)
	}
	outdatedWrites := fi.Size() + int64(len("#!/bin/sh\necho run\n"))

	report := filepath.Join(dir, "report.json")
	r := runGrifork(t, dir, "-f", gf, "--report", report, "--progress", "always")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	bcCheck(t, f, hosts, want)

	wantKind := map[string]struct {
		kind    string
		written int64
	}{empty: {"full", total}, outdated: {"update", outdatedWrites}, current: {"current", 0}}
	got := bcReport(t, report)
	for h, w := range wantKind {
		b := got[h]
		// Every host of the chain receives the whole stream, which carries
		// every file (the empty host lacks them all) and the manifest.
		if b.Status != "ok" || b.Kind != w.kind || b.Written != w.written || b.Received < total || b.Received != got[empty].Received {
			t.Errorf("--report: %s: %s, %s, received %d, wrote %d; want ok, %s, received %d (as %s) >= %d, wrote %d",
				h, b.Status, b.Kind, b.Received, b.Written, w.kind, got[empty].Received, empty, total, w.written)
		}
		line := fmt.Sprintf("r.broadcast %s ok %s %d %d", h, w.kind, b.Received, w.written)
		if !strings.Contains(r.stdout, "\n"+line+"\n") {
			t.Errorf("finish's r.broadcast lacks %q", line)
		}
	}

	// The progress line, on a pipe: whole lines, no escape codes, the bytes
	// sent growing and a rate while the stream goes.
	if strings.ContainsAny(r.stdout, "\x1b\r") {
		t.Errorf("escape codes or carriage returns on a pipe:\n%q", r.stdout)
	}
	var sent []float64
	moving := false
	for _, line := range strings.Split(r.stdout, "\n") {
		if !strings.Contains(line, "broadcast  sent") {
			continue
		}
		m := sentLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("not a whole progress line: %q", line)
			continue
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		sent = append(sent, n*unit(m[2]))
		rate, _ := strconv.ParseFloat(m[5], 64)
		moving = moving || rate > 0
		if of, _ := strconv.ParseFloat(m[3], 64); of*(1<<20) < float64(total)*0.99 {
			t.Errorf("%q: of %s MiB, want the %d bytes every file takes", line, m[3], total)
		}
	}
	if len(sent) < 2 || !moving {
		t.Errorf("want at least two lines with the bytes sent, one with a rate, got %d:\n%s", len(sent), r.stdout)
	}
	for i := 1; i < len(sent); i++ {
		if sent[i] < sent[i-1] {
			t.Errorf("the bytes sent went down: %v", sent)
		}
	}
	noLeftovers(t, f, 10*time.Second)
}

func unit(u string) float64 {
	switch u {
	case "KiB":
		return 1 << 10
	case "MiB":
		return 1 << 20
	}
	return 1
}
