package inventory

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files from ansible-inventory")

// conns lists every host with the address, user and port the inventory gives
// it, one line each, sorted: the form both grifork and ansible-inventory
// --list are brought to (it leaves out hosts without vars).
func conns(t *testing.T, inv *Inventory) string {
	t.Helper()
	var lines []string
	for _, h := range inv.hostOrder {
		c, _, err := inv.Host(h)
		if err != nil {
			t.Fatal(err)
		}
		port := ""
		if c.Port != 0 {
			port = fmt.Sprint(c.Port)
		}
		if c.Addr == "" && c.User == "" && port == "" {
			continue
		}
		lines = append(lines, strings.Join([]string{h, c.Addr, c.User, port}, " "))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

func ansibleInventory(t *testing.T, file string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("ansible-inventory", append([]string{"-i", file}, args...)...)
	home := t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "ANSIBLE_LOCAL_TEMP=" + home,
		"ANSIBLE_INVENTORY_UNPARSED_FAILED=True"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ansible-inventory -i %s %s: %v", file, strings.Join(args, " "), err)
	}
	return out
}

// oracleConns is conns from ansible-inventory --list.
func oracleConns(t *testing.T, file string) string {
	var list struct {
		Meta struct {
			Hostvars map[string]map[string]any `json:"hostvars"`
		} `json:"_meta"`
	}
	if err := json.Unmarshal(ansibleInventory(t, file, "--list"), &list); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for h, vars := range list.Meta.Hostvars {
		field := func(k string) string {
			if v, ok := vars[k]; ok {
				return fmt.Sprint(v)
			}
			return ""
		}
		if field("ansible_host")+field("ansible_user")+field("ansible_port") == "" {
			continue
		}
		lines = append(lines, strings.Join([]string{h, field("ansible_host"), field("ansible_user"), field("ansible_port")}, " "))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// TestMatchesAnsibleInventory reads each inventory of testdata and compares
// its groups and hosts with ansible-inventory --graph, and the connection
// variables of every host with ansible-inventory --list, when it is
// installed; the golden files keep what it printed for machines without it.
func TestMatchesAnsibleInventory(t *testing.T) {
	t.Parallel()
	_, lookErr := exec.LookPath("ansible-inventory")
	for _, name := range []string{"web.ini", "site.yml", "dynamic.sh", "nometa.sh"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join("testdata", name)
			inv, err := Load(context.Background(), []string{file})
			if err != nil {
				t.Fatal(err)
			}
			var graph strings.Builder
			if err := inv.Graph(&graph); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{".graph": graph.String(), ".conn": conns(t, inv)}
			for ext, g := range got {
				golden := file + ext
				var want string
				if lookErr == nil {
					if ext == ".graph" {
						want = string(ansibleInventory(t, file, "--graph"))
					} else {
						want = oracleConns(t, file)
					}
					if *update {
						if err := os.WriteFile(golden, []byte(want), 0o644); err != nil {
							t.Fatal(err)
						}
					}
				} else {
					b, err := os.ReadFile(golden)
					if err != nil {
						t.Fatal(err)
					}
					want = string(b)
				}
				if strings.TrimSpace(g) != strings.TrimSpace(want) {
					t.Errorf("%s%s:\ngrifork:\n%s\nansible-inventory:\n%s", name, ext, g, want)
				}
			}
		})
	}
}

func TestGroupsAsNodes(t *testing.T) {
	t.Parallel()
	inv, err := Load(context.Background(), []string{"testdata/web.ini", "testdata/site.yml"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		group, want, wantErr string
	}{
		{group: "app", want: "web01.example.com web03.example.com web05.example.com web10.example.com db-a db-b db-c db-z"},
		{group: "back", want: "back-x back-y back-z"},
		{group: "ungrouped", want: "bastion lonely"},
		{group: "nope", wantErr: `unknown group "nope"`},
	}
	for _, tt := range tests {
		got, err := inv.Nodes(context.Background(), tt.group)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want %q", tt.group, err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.group, got, err, tt.want)
		}
	}
	c, ok, err := inv.Host("db-a")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := []string{"ansible_host=10.0.0.7 from testdata/web.ini:8 (host var)",
		"ansible_user=deploy from testdata/web.ini:16 ([app:vars])",
		"ansible_port=2222 from testdata/web.ini:17 ([app:vars])"}
	if !slices.Equal(c.Origins, want) {
		t.Errorf("db-a origins:\n%q\nwant\n%q", c.Origins, want)
	}
}

func TestBadInventories(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content, wantErr string
		script                 bool // executable: a dynamic inventory; wantErr ends its error
	}{
		{"range.ini", "[g]\nweb[01:5]\n", "range.ini:2: host \"web[01:5]\": a host range must give begin and end in the same width", false},
		{"var.ini", "[g]\nweb1 port\n", "var.ini:2: expected key=value host variable assignment, got: port", false},
		{"section.ini", "[g:hosts]\n", "section suffix \"hosts\"", false},
		{"cycle.ini", "[a:children]\nb\n[b:children]\na\n", "already one of its parents", false},
		{"template.ini", "[g]\nweb1 ansible_host=\"{{inventory_hostname}}.x\"\n", "is a template", false},
		{"port.yml", "all:\n  hosts:\n    h1:\n      ansible_port: http\n", "is not a port", false},
		{"loud.sh", "#!/bin/sh\necho no cloud >&2\necho more >&2\nexit 3\n", "loud.sh --list: exit status 3: no cloud", true},
		{"silent.sh", "#!/bin/sh\nexit 3\n", "silent.sh --list: exit status 3", true},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		file := filepath.Join(dir, tt.name)
		mode := os.FileMode(0o644)
		if tt.script {
			mode = 0o755
		}
		if err := os.WriteFile(file, []byte(tt.content), mode); err != nil {
			t.Fatal(err)
		}
		inv, err := Load(context.Background(), []string{file})
		if err == nil {
			for _, h := range inv.hostOrder {
				if _, _, err = inv.Host(h); err != nil {
					break
				}
			}
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || tt.script && !strings.HasSuffix(err.Error(), tt.wantErr) {
			t.Errorf("%s: err %v, want it to hold %q", tt.name, err, tt.wantErr)
		}
	}
}
