package dsl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grifork/grifork/groups"
	"github.com/grifork/grifork/inventory"
)

// withInventories gives the load node groups: no ClusterShell configuration,
// the inventory directive's files as the default source.
func withInventories(flags ...string) func(*Options) {
	return func(o *Options) {
		o.Groups = func(ctx context.Context, files []string) (*groups.Resolver, error) {
			r := groups.New(nil, 0)
			files = append(files, flags...)
			if len(files) > 0 {
				inv, err := inventory.Load(ctx, files)
				if err != nil {
					return nil, err
				}
				r.Add("inventory", inv)
			}
			return r, nil
		}
	}
}

func TestInventoryDirective(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts.ini")
	if err := os.WriteFile(inv, []byte("[web]\nweb1 ansible_host=10.0.0.1 ansible_port=2201\nweb2\n[web:vars]\nansible_user=deploy\n[db]\ndb1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.ini")
	if err := os.WriteFile(bad, []byte("[evil]\nx1 ansible_host=-oProxyCommand=touch_pwned\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { return `"` + s + `"` }
	tests := []struct {
		name, src, override, want, wantErr string
		opts                               []func(*Options)
		noted                              string // the hosts with a note in Selected
	}{
		{name: "groups and connection vars, the inventory after the hosts",
			src:  `hosts { "@web", "db1", "other" }` + "\ninventory { " + q(inv) + " }",
			want: "deploy@10.0.0.1:2201 deploy@web2 db1 other", noted: "deploy@10.0.0.1:2201 deploy@web2 db1"},
		{name: "a user@ entry is no group",
			src:  `hosts { "deploy@other1", "n[1-2]" }` + "\ninventory { " + q(inv) + " }",
			want: "deploy@other1 n1 n2", noted: ""},
		{name: "an entry's own user and port win",
			src:  "inventory(" + q(inv) + ")\n" + `hosts { "root@web1:22" }`,
			want: "root@10.0.0.1:22", noted: "root@10.0.0.1:22"},
		{name: "the override's inventory replaces the main file's",
			src:      "inventory { " + q(filepath.Join(dir, "missing.ini")) + " }\n" + `hosts { "@db" }`,
			override: "inventory { " + q(inv) + " }",
			want:     "db1", noted: "db1"},
		{name: "--inventory with no directive",
			src: `hosts { "@web!web1" }`, opts: []func(*Options){withInventories(inv)},
			want: "deploy@web2", noted: "deploy@web2"},
		{name: "unknown group", src: "inventory { " + q(inv) + " }\n" + `hosts { "@app" }`,
			wantErr: `Griforkfile.lua:2: hosts: entry 1 "@app": group source "inventory": unknown group "app"`},
		{name: "missing inventory file", src: "\ninventory { " + q(filepath.Join(dir, "nope.ini")) + " }\n" + `hosts { "a" }`,
			wantErr: "Griforkfile.lua:2: inventory: stat " + filepath.Join(dir, "nope.ini") + ": no such file or directory"},
		{name: "a group without any source", src: `hosts { "@web" }`,
			wantErr: `Griforkfile.lua:1: hosts: entry 1 "@web": no group source`},
		{name: "an address that ssh would read as an option", src: "inventory { " + q(bad) + " }\n" + `hosts { "@evil" }`,
			wantErr: `Griforkfile.lua:2: hosts: entry 1 "@evil": x1: the inventory's settings make an invalid host (ansible_host=-oProxyCommand=touch_pwned from ` + bad + `:2 (host var)): host "-oProxyCommand=touch_pwned": a host name or user must not start with "-"`},
		{name: "inventory takes file names", src: `inventory { 3 }`,
			wantErr: "Griforkfile.lua:1: inventory: entry 1 must be a file name, got 3"},
		{name: "a node reads neither directive", src: "inventory { " + q(filepath.Join(dir, "nope.ini")) + " }\n" + `hosts { "@web" }`,
			opts: []func(*Options){func(o *Options) { o.SkipHosts = true; o.Groups = nil }}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := append([]func(*Options){withInventories()}, tt.opts...)
			var override *Source
			if tt.override != "" {
				override = &Source{Name: "override.lua", Content: []byte(tt.override)}
			}
			h, err := tryLoad(t, tt.src, override, nil, opts...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want it to hold %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, host := range h.script.Config.Hosts {
				got = append(got, host.String())
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("hosts %q, want %q", got, tt.want)
			}
			var noted []string
			for _, host := range got {
				if _, ok := h.script.Selected[host]; ok {
					noted = append(noted, host)
				}
			}
			if strings.Join(noted, " ") != tt.noted {
				t.Errorf("notes for %q, want %q", noted, tt.noted)
			}
		})
	}
}
