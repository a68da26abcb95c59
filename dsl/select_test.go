package dsl

import (
	"context"
	"strings"
	"testing"

	"github.com/grifork/grifork/core"
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
