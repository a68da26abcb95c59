package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/internal/testkit/fleet"
	"github.com/grifork/grifork/nodeset"
)

// reportFile is the --report schema documented in docs/cli.md; decoding with
// DisallowUnknownFields makes any field the docs do not know fail the test.
type reportFile struct {
	Mode     string        `json:"mode"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	Totals   struct {
		Hosts, OK, Failed, Skipped, Pending int
	} `json:"totals"`
	Results []struct {
		NodeID     string        `json:"node_id"`
		Host       string        `json:"host"`
		Level      int           `json:"level"`
		Status     string        `json:"status"`
		Task       string        `json:"task"`
		Via        string        `json:"via"`
		Start      time.Time     `json:"start"`
		Duration   time.Duration `json:"duration"`
		Err        string        `json:"error"`
		ExitStatus int           `json:"exit_status"`
	} `json:"results"`
	RunErrors []struct {
		Task, Host, Error string
	} `json:"run_errors"`
}

func readReport(t *testing.T, path string) reportFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var r reportFile
	if err := d.Decode(&r); err != nil {
		t.Fatalf("%s does not match the documented schema: %v\n%s", path, err, b)
	}
	return r
}

// summaryLine reports whether out has a line that starts with prefix and contains part.
func summaryLine(out, prefix, part string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, part) {
			return true
		}
	}
	return false
}

// TestCLI runs the operator's commands (exec, copy, -g, --report, --retry) on a
// 24-host fleet, with the ssh settings from the flags and ~/.ssh/known_hosts, as
// an operator without a Griforkfile would.
func TestCLI(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f := fleet.StartT(t, fleet.Options{Hosts: 24})
	hosts := f.Hosts()
	dir := t.TempDir()
	homeKnowsFleet(t, dir, f)
	all := nodeset.Fold(hosts) // the node set of the fleet, expanded back by -H
	login := []string{"-l", "root", "-i", f.KeyFile()}
	ctx := context.Background()
	onHost := func(h, script string) {
		t.Helper()
		if out, err := f.Exec(ctx, h, "sh", "-c", script); err != nil {
			t.Fatalf("%s: %s: %v %s", h, script, err, out)
		}
	}

	t.Run("exec prints every host's name", func(t *testing.T) {
		r := runGrifork(t, dir, append(append([]string{"exec", "-H", all}, login...), "--", "hostname")...)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0", r.code)
		}
		names := map[string]string{}
		for _, l := range strings.Split(r.stdout, "\n") {
			if host, name, ok := strings.Cut(l, " | "); ok {
				names[host] = name
			}
		}
		distinct := map[string]bool{}
		for _, h := range hosts {
			if names[h] == "" {
				t.Errorf("no hostname line for %s", h)
			}
			distinct[names[h]] = true
		}
		if len(distinct) != 24 {
			t.Errorf("%d distinct host names, want 24: %v", len(distinct), names)
		}
	})

	t.Run("exec -g groups identical output", func(t *testing.T) {
		odd := []string{hosts[2], hosts[9], hosts[10], hosts[23]}
		for _, h := range hosts {
			tag := "same"
			if slices.Contains(odd, h) {
				tag = "odd"
			}
			onHost(h, "echo "+tag+" > /srv/tag")
		}
		r := runGrifork(t, dir, append(append([]string{"exec", "-g", "-H", all}, login...), "--", "cat /srv/tag")...)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0", r.code)
		}
		rest := except(hosts, odd...)
		group := func(hs []string, out string) string {
			head := fmt.Sprintf("%s (%d)", nodeset.Fold(hs), len(hs))
			rule := strings.Repeat("-", len(head))
			return rule + "\n" + head + "\n" + rule + "\n" + out + "\n"
		}
		want := group(rest, "same") + group(odd, "odd")
		if !strings.HasPrefix(r.stdout, want) {
			t.Errorf("gathered output:\n%s\nwant it to start with:\n%s", r.stdout, want)
		}
		if strings.Contains(r.stdout, " | ") {
			t.Errorf("-g printed prefixed lines:\n%s", r.stdout)
		}
	})

	t.Run("copy leaves every host byte-identical", func(t *testing.T) {
		app := filepath.Join(dir, "app")
		makeApp(t, app)
		// The hosts run OpenSSH's ssh for rsync, which reads the passwd home's
		// known_hosts, not $HOME's: the settings come from a Griforkfile (-f).
		gf := fleetFile(t, dir, f, hosts, 4, "")
		r := runGrifork(t, dir, "copy", "-f", gf, "-b", "3", app, "/srv/app")
		if r.code != 0 {
			t.Fatalf("exit %d, want 0", r.code)
		}
		checkAll(t, f, hosts, localManifest(t, app))
	})

	t.Run("copy of a file onto a directory puts it inside, and refuses what it would replace", func(t *testing.T) {
		// Issue 17: copy FILE DIR/ replaced the directory with the file (keep.txt
		// gone, exit 0). Now it lands inside, as cp, scp and rsync put it; a host
		// whose path is a link, or a file where a directory is sent, is failed by
		// name and keeps what it held.
		into, asLink, asFile := hosts[3:6], hosts[6], hosts[7]
		for _, h := range into {
			onHost(h, "rm -rf /srv/appdir && mkdir -p /srv/appdir && echo keep > /srv/appdir/keep.txt")
		}
		conf := filepath.Join(dir, "one.conf")
		if err := os.WriteFile(conf, []byte("conf\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, to := range []string{"/srv/appdir/", "/srv/appdir"} {
			r := runGrifork(t, dir, "copy", "-f", fleetFile(t, dir, f, into, 4, ""), conf, to)
			if r.code != 0 {
				t.Fatalf("copy to %s: exit %d, want 0", to, r.code)
			}
			for _, h := range into {
				out, err := f.Exec(ctx, h, "sh", "-c", "cat /srv/appdir/keep.txt /srv/appdir/one.conf")
				if err != nil || string(out) != "keep\nconf\n" {
					t.Errorf("%s after copy to %s: %q, %v; want keep.txt kept and one.conf inside", h, to, out, err)
				}
			}
		}

		onHost(asLink, "rm -rf /srv/real /srv/appdir && mkdir /srv/real && echo keep > /srv/real/keep.txt && ln -s real /srv/appdir")
		onHost(asFile, "rm -rf /srv/appdir && echo keep > /srv/appdir")
		app := filepath.Join(dir, "app")
		r := runGrifork(t, dir, "copy", "--delete", "-f", fleetFile(t, dir, f, []string{asLink, asFile}, 4, ""), app, "/srv/appdir")
		if r.code != 1 {
			t.Fatalf("copy of a directory onto a link and a file: exit %d, want 1", r.code)
		}
		if !summaryLine(r.stdout, "  "+asLink+" (", "/srv/appdir is a symbolic link") ||
			!summaryLine(r.stdout, "  "+asFile+" (", "/srv/appdir exists and is not a directory") {
			t.Errorf("summary does not name the link and the file:\n%s", r.stdout)
		}
		for h, check := range map[string]string{asLink: "test -L /srv/appdir && cat /srv/real/keep.txt", asFile: "cat /srv/appdir"} {
			if out, err := f.Exec(ctx, h, "sh", "-c", check); err != nil || string(out) != "keep\n" {
				t.Errorf("%s: %q, %v; want what it held", h, out, err)
			}
		}
	})

	t.Run("a dead host and exit 3 are in the summary and the report", func(t *testing.T) {
		dead, three := hosts[1], hosts[14]
		onHost(three, "echo 3 > /srv/code")
		if err := f.StopHost(dead); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := f.StartHost(ctx, dead); err != nil {
				t.Fatal(err)
			}
		}()
		report := filepath.Join(dir, "exec.json")
		r := runGrifork(t, dir, append(append([]string{"exec", "-b", "3", "-H", all, "--report", report}, login...),
			"--", "exit $(cat /srv/code 2>/dev/null || echo 0)")...)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1", r.code)
		}
		if !strings.Contains(r.stdout, "22 ok, 2 failed, 0 skipped") {
			t.Errorf("summary does not count 22 ok and 2 failed:\n%s", r.stdout)
		}
		if !summaryLine(r.stdout, "  "+dead+" (", "") || !summaryLine(r.stdout, "  "+three+" (", "exit status 3") {
			t.Errorf("summary does not list %s and %s (exit status 3):\n%s", dead, three, r.stdout)
		}
		rep := readReport(t, report)
		if rep.Mode != "standalone" || rep.Totals.Hosts != 24 || rep.Totals.OK != 22 || rep.Totals.Failed != 2 || len(rep.Results) != 24 {
			t.Errorf("report header: %+v %+v, %d results", rep.Mode, rep.Totals, len(rep.Results))
		}
		for _, res := range rep.Results {
			switch res.Host {
			case three:
				if res.Status != "failed" || res.ExitStatus != 3 {
					t.Errorf("%s: %+v, want failed with exit_status 3", three, res)
				}
			case dead:
				if res.Status != "failed" || res.Err == "" || res.ExitStatus != 0 {
					t.Errorf("%s: %+v, want failed with an error and no exit status", dead, res)
				}
			default:
				if res.Status != "ok" || res.NodeID == "" || res.Start.IsZero() || res.Via == "" {
					t.Errorf("%+v, want ok with id, start and via", res)
				}
			}
		}
		onHost(three, "rm /srv/code")
	})

	t.Run("retry runs exactly the failed and skipped hosts", func(t *testing.T) {
		// A standalone run without healing: the dead generation-1 host's subtree
		// is skipped. Every task appends to /srv/runs.
		gf := fleetFile(t, dir, f, hosts, 3, `
local function mark(src, dst) ssh(dst, "sh", { "-c", "echo run >> /srv/runs" }) end
locally(mark)
remote(mark)
`)
		dead := hosts[1]
		if err := f.StopHost(dead); err != nil {
			t.Fatal(err)
		}
		report := filepath.Join(dir, "run.json")
		r := runGrifork(t, dir, "-f", gf, "--report", report)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1", r.code)
		}
		first := readReport(t, report)
		var again []string
		for _, res := range first.Results {
			if res.Status != "ok" {
				again = append(again, res.Host)
			}
		}
		if first.Totals.Failed != 1 || first.Totals.Skipped != 6 || len(again) != 7 {
			t.Fatalf("first run: %+v, to retry %v; want 1 failed, 6 skipped", first.Totals, again)
		}
		if err := f.StartHost(ctx, dead); err != nil {
			t.Fatal(err)
		}

		plan := runGrifork(t, dir, "-n", "-f", gf, "--retry", report)
		if plan.code != 0 || !strings.Contains(plan.stdout, "branches 3, 7 hosts") {
			t.Errorf("-n --retry: exit %d, want the plan of 7 hosts", plan.code)
		}
		retried := filepath.Join(dir, "retry.json")
		r = runGrifork(t, dir, "-f", gf, "--retry", report, "--report", retried)
		if r.code != 0 {
			t.Fatalf("retry: exit %d, want 0", r.code)
		}
		var got []string
		for _, res := range readReport(t, retried).Results {
			got = append(got, res.Host)
		}
		if !slices.Equal(got, again) {
			t.Errorf("retry ran %v, want %v", got, again)
		}
		// Each host ran its task exactly once over both runs.
		for _, h := range hosts {
			out, err := f.Exec(ctx, h, "cat", "/srv/runs")
			if err != nil || string(out) != "run\n" {
				t.Errorf("%s: /srv/runs = %q, %v; want one run", h, out, err)
			}
		}
	})
}
