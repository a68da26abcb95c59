package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grifork/grifork/internal/testkit/fleet"
)

// TestInventory runs on hosts known only by an Ansible inventory: their names
// resolve nowhere (.invalid), so only ansible_host, ansible_port and
// ansible_user (host and [group:vars]) can reach them. The Griforkfile's
// inventory { } and --inventory select them by group, in both modes.
func TestInventory(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f := fleet.StartT(t, fleet.Options{Hosts: 7})
	hosts := f.Hosts()
	dir := t.TempDir()

	// web1-4 and db1-2 reach hosts[0:6]; bad1 is hosts[6] on a port where
	// nothing listens.
	var inv strings.Builder
	inv.WriteString("[web]\n")
	for i, h := range hosts[:4] {
		fmt.Fprintf(&inv, "web%d.invalid ansible_host=%s\n", i+1, h)
	}
	inv.WriteString("[db]\n")
	for i, h := range hosts[4:6] {
		fmt.Fprintf(&inv, "db%d.invalid ansible_host=%s\n", i+1, h)
	}
	fmt.Fprintf(&inv, "[broken]\nbad1.invalid ansible_host=%s ansible_port=2\n", hosts[6])
	inv.WriteString("[site:children]\nweb\ndb\n[site:vars]\nansible_user=root\nansible_port=22\n")
	invFile := filepath.Join(dir, "hosts.ini")
	if err := os.WriteFile(invFile, []byte(inv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	site := hosts[:6]
	// No ssh { user }: the inventory's ansible_user is the only user given.
	griforkfile := func(name, body string) string {
		src := fmt.Sprintf(`branches(2)
inventory { %q }
hosts { "@site" }
ssh { keys = { %q }, known_hosts = %q, timeout = 5 }
%s
`, invFile, f.KeyFile(), f.KnownHostsFile(), body)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	t.Run("graph shows the selection and where each setting came from", func(t *testing.T) {
		gf := griforkfile("graph.lua", "")
		r := runGrifork(t, dir, "graph", "-f", gf)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0", r.code)
		}
		for i, h := range hosts[:4] {
			want := fmt.Sprintf("  root@%s:22  <-  web%d.invalid: selected by \"@site\", an inventory host; ansible_host=%s from %s:%d (host var); ansible_user=root from %s:%d ([site:vars]); ansible_port=22 from %s:%d ([site:vars])",
				h, i+1, h, invFile, i+2, invFile, 15, invFile, 16)
			if !strings.Contains(r.stdout, want+"\n") {
				t.Errorf("graph lacks the line\n%s", want)
			}
		}
	})

	for _, mode := range []string{"standalone", "grifork"} {
		t.Run("run in "+mode+" mode reaches every host of the group", func(t *testing.T) {
			app := filepath.Join(dir, "app-"+mode)
			makeApp(t, app)
			body := fmt.Sprintf(`locally(function(src, dst) rsync(%q, "/srv/app/") end)
remote(function(src, dst) rsync_remote("/srv/app/") end)`, app+"/")
			if mode == "grifork" {
				body = griforkBody(app, "")
			}
			for _, h := range site {
				if out, err := f.Exec(t.Context(), h, "rm", "-rf", "/srv/app"); err != nil {
					t.Fatalf("%s: %v %s", h, err, out)
				}
			}
			r := runGrifork(t, dir, "run", "-f", griforkfile(mode+".lua", body))
			if r.code != 0 {
				t.Fatalf("exit %d, want 0", r.code)
			}
			if !strings.Contains(r.stdout, "6 ok, 0 failed, 0 skipped") {
				t.Errorf("summary: want 6 ok, 0 failed, 0 skipped")
			}
			checkAll(t, f, site, localManifest(t, app))
		})
	}

	t.Run("exec --inventory: ansible_user wins over -l, a wrong ansible_port fails its host by address and port", func(t *testing.T) {
		homeKnowsFleet(t, dir, f)
		r := runGrifork(t, dir, "exec", "--inventory", invFile, "-H", "@web!web2.invalid,@broken", "-l", "nobody",
			"-i", f.KeyFile(), "--", "id", "-un")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1 (bad1 fails)", r.code)
		}
		for _, h := range []string{hosts[0], hosts[2], hosts[3]} {
			if !strings.Contains(r.stdout, "root@"+h+":22 | root\n") {
				t.Errorf("no line \"root@%s:22 | root\"", h)
			}
		}
		if strings.Contains(r.stdout, hosts[1]) {
			t.Errorf("%s (web2, left out by -H) appears", hosts[1])
		}
		if !strings.Contains(r.stdout, "3 ok, 1 failed") || !strings.Contains(r.stdout+r.stderr, hosts[6]+":2") {
			t.Errorf("want 3 ok, 1 failed, and bad1 reported as %s:2", hosts[6])
		}
	})
}
