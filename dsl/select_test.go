package dsl

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/groups"
)

func TestSelectionApply(t *testing.T) {
	t.Parallel()
	base := func() core.Config {
		return core.Config{Branches: 4, Hosts: []core.Host{{Name: "a"}, {Name: "b", User: "deploy", Port: 2222}, {Name: "c"}}}
	}
	tests := []struct {
		name     string
		sel      Selection
		hosts    string // space-separated, or "error: <text>"
		branches int
	}{
		{"nothing keeps the file's", Selection{}, "a deploy@b:2222 c", 4},
		{"-H replaces", Selection{Hosts: []string{"web[1-2]", "db1"}}, "web1 web2 db1", 4},
		{"-H comma-separated", Selection{Hosts: []string{"web[1-2],db1"}}, "db1 web1 web2", 4},
		{"-x by name", Selection{Exclude: []string{"b"}}, "a c", 4},
		{"-x by entry", Selection{Exclude: []string{"deploy@b:2222,c"}}, "a", 4},
		{"-x of an unknown host", Selection{Exclude: []string{"zz"}}, "a deploy@b:2222 c", 4},
		{"-H and -x", Selection{Hosts: []string{"w[1-5]"}, Exclude: []string{"w[2-3]"}}, "w1 w4 w5", 4},
		{"-b", Selection{Branches: 2}, "a deploy@b:2222 c", 2},
		{"-b negative", Selection{Branches: -1}, "error: -b: branches must be >= 1, got -1", 0},
		{"-x of all", Selection{Exclude: []string{"a,b,c"}}, "error: -x leaves no host to run on", 0},
		{"bad -H", Selection{Hosts: []string{"web[1-"}}, `error: -H: entry 1 "web[1-": "web[1-": [ without ]`, 0},
		{"bad -x", Selection{Exclude: []string{"web]"}}, `error: -x: entry 1 "web]": "web]": ] without [`, 0},
		{"-H twice the same", Selection{Hosts: []string{"a", "a"}}, `error: -H: "a" is listed twice`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base()
			err := tt.sel.Apply(context.Background(), &c, nil, nil)
			if want, ok := strings.CutPrefix(tt.hosts, "error: "); ok {
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("error %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range c.Hosts {
				got = append(got, h.String())
			}
			if strings.Join(got, " ") != tt.hosts || c.Branches != tt.branches {
				t.Errorf("hosts %q branches %d, want %q %d", got, c.Branches, tt.hosts, tt.branches)
			}
		})
	}
}

// -H and -x with node groups of a real resolver (an upcall source of
// testdata/groups/groups.conf): the hosts left are those of -H (or the
// file's) less those of -x, each set as ClusterShell's nodeset -e expands
// it when it is installed (want holds what it printed, for machines without).
func TestSelectionApplyGroups(t *testing.T) {
	t.Parallel()
	conf, err := filepath.Abs(filepath.Join("testdata", "groups", "groups.conf"))
	if err != nil {
		t.Fatal(err)
	}
	r := groups.New([]string{conf}, groups.DefaultUpcallTimeout)
	_, lookErr := exec.LookPath("nodeset")
	if lookErr != nil {
		t.Log("nodeset is not installed: checking against the expected hosts only")
	}
	file := "web[1-6],db[1-2]" // the Griforkfile's hosts, in nodeset's order: db first
	tests := []struct {
		name    string
		sel     Selection
		want    string // the hosts left, in order; or "error: <text>"
		hosts   string // -H, or the file's hosts, as nodeset reads them
		exclude string // -x as nodeset reads it
	}{
		{"-x a group", Selection{Exclude: []string{"@web"}}, "db1 db2", file, "@web"},
		{"-x a group of a named source", Selection{Exclude: []string{"@site:canary"}}, "db1 db2 web1 web4 web5 web6", file, "@site:canary"},
		{"-x a group with an operator", Selection{Exclude: []string{"@web!@canary"}}, "db1 db2 web2 web3", file, "@web!@canary"},
		{"-x groups and a host", Selection{Exclude: []string{"@canary,db1"}}, "db2 web1 web4 web5 web6", file, "@canary,db1"},
		{"-H and -x groups", Selection{Hosts: []string{"@web"}, Exclude: []string{"@canary"}}, "web1 web4 web5 web6", "@web", "@canary"},
		{"-x of every host", Selection{Hosts: []string{"@canary"}, Exclude: []string{"@web"}}, "error: -x leaves no host to run on", "@canary", "@web"},
		{"-x an unknown group", Selection{Exclude: []string{"@nope"}}, `error: -x: entry 1 "@nope": group source "site": unknown group "nope"`, file, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hosts, err := expandHosts([]string{file})
			if err != nil {
				t.Fatal(err)
			}
			c := core.Config{Branches: 4, Hosts: hosts}
			err = tt.sel.Apply(context.Background(), &c, r, map[string]string{})
			if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("error %v, want %q", err, want)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, h := range c.Hosts {
					got = append(got, h.String())
				}
				if strings.Join(got, " ") != tt.want {
					t.Errorf("hosts %q, want %q", got, tt.want)
				}
			}
			if lookErr != nil || tt.exclude == "" {
				return
			}
			// nodeset's own expansion of both sets; their difference is the want.
			keep, drop := nodesetExpand(t, conf, tt.hosts), nodesetExpand(t, conf, tt.exclude)
			var left []string
			for _, h := range keep {
				if !slices.Contains(drop, h) {
					left = append(left, h)
				}
			}
			want := strings.Fields(tt.want)
			if strings.HasPrefix(tt.want, "error: ") {
				want = nil
			}
			slices.Sort(left)
			slices.Sort(want)
			if !slices.Equal(left, want) {
				t.Errorf("nodeset: %q less %q leaves %q, want %q", tt.hosts, tt.exclude, left, want)
			}
		})
	}
}

// nodesetExpand runs ClusterShell's nodeset -e on expr with conf, reading no
// configuration of this machine's user.
func nodesetExpand(t *testing.T, conf, expr string) []string {
	t.Helper()
	cmd := exec.Command("nodeset", "--groupsconf="+conf, "-e", expr)
	home := t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + home}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nodeset -e %q: %v", expr, err)
	}
	return strings.Fields(string(out))
}
