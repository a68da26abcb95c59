package nodeset

import (
	"fmt"
	"strings"
	"testing"
)

// mapResolver is a resolver over fixed groups: source -> group -> node sets;
// "*" of a source is its all.
type mapResolver map[string]map[string][]string

func (m mapResolver) src(source string) (map[string][]string, error) {
	if source == "" {
		source = "main"
	}
	s, ok := m[source]
	if !ok {
		return nil, fmt.Errorf("unknown group source %q", source)
	}
	return s, nil
}

func (m mapResolver) Nodes(source, group string) ([]string, error) {
	s, err := m.src(source)
	if err != nil {
		return nil, err
	}
	nodes, ok := s[group]
	if !ok {
		return nil, fmt.Errorf("unknown group %q", group)
	}
	return nodes, nil
}

func (m mapResolver) All(source string) ([]string, error) { return m.Nodes(source, "*") }

func (m mapResolver) Groups(source string) ([]string, error) {
	s, err := m.src(source)
	if err != nil {
		return nil, err
	}
	var out []string
	for g := range s {
		if g != "*" {
			out = append(out, g)
		}
	}
	return out, nil
}

func TestExpandWith(t *testing.T) {
	t.Parallel()
	r := mapResolver{
		"main": {
			"web":  {"web[1-3]"},
			"db":   {"db1", "db2"},
			"both": {"@web,@db"},
			"loop": {"@loop"},
			"far":  {"@other:x"},
			"*":    {"web[1-3],db[1-2],spare9"},
		},
		"selfish": {"*": {"a1,x*"}},
		"other": {
			"x":     {"x[1-2]", "@y"},
			"y":     {"y1"},
			"rack1": {"r1n[1-2]"},
			"rack2": {"r2n1"},
		},
	}
	tests := []struct {
		expr, want, wantErr string
	}{
		{expr: "@web", want: "web1 web2 web3"},
		{expr: "@both!web2", want: "db1 db2 web1 web3"},
		{expr: "@main:db&db2,n1", want: "db2 n1"},
		// A group's own groups are read in its source.
		{expr: "@far", want: "x1 x2 y1"},
		{expr: "@other:rack[1-2]", want: "r1n1 r1n2 r2n1"},
		{expr: "@*", want: "db1 db2 spare9 web1 web2 web3"},
		{expr: "@*^@web", want: "db1 db2 spare9"},
		{expr: "spare*,web?", want: "spare9 web1 web2 web3"},
		{expr: "@@other", want: "rack1 rack2 x y"},
		{expr: "@nope", wantErr: `unknown group "nope"`},
		{expr: "@nosrc:web", wantErr: `unknown group source "nosrc"`},
		{expr: "@other:*", wantErr: `@other:*: unknown group "*"`},
		{expr: "@", wantErr: `"@": a group name is missing after @`},
		{expr: "@loop", wantErr: "groups nest more than 32 deep"},
		{expr: "@selfish:*", wantErr: "all nodes are defined by all nodes"},
	}
	for _, tt := range tests {
		got, err := ExpandWith(tt.expr, r)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: got %q, %v; want an error holding %q", tt.expr, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.expr, got, err, tt.want)
		}
	}
}
