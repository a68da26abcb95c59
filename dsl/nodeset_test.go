package dsl

import (
	"reflect"
	"strings"
	"testing"
)

func TestExpandNodeSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // space-separated names, or "error: <text>"
	}{
		{"web1", "web1"},
		{"web[1-3]", "web1 web2 web3"},
		{"web[01-03].internal", "web01.internal web02.internal web03.internal"},
		{"web[08-11]", "web08 web09 web10 web11"},
		{"db[1-3,7]", "db1 db2 db3 db7"},
		{"db[7,1-2]", "db7 db1 db2"},
		{"n[1-9/4]", "n1 n5 n9"},
		{"r[1-2]n[01-02]", "r1n01 r1n02 r2n01 r2n02"},
		{"deploy@web[1-2]:2222", "deploy@web1:2222 deploy@web2:2222"},
		{"[fe80::1]:22", "[fe80::1]:22"},
		{"user@[2001:db8::[1-2]]", "error: [ without ]"},
		{"web[1-2],db1", "web1 web2 db1"},
		{"[1-2]", "1 2"},
		{"web[001-100]", "error: none"}, // checked by count below
		{"web[]", "error: empty []"},
		{"web[1-3", "error: [ without ]"},
		{"web1-3]", "error: ] without ["},
		{"web[a-c]", `error: invalid range "a-c" in [a-c]`},
		{"web[1-]", `error: invalid range "1-" in [1-]`},
		{"web[-1]", `error: invalid range "-1" in [-1]`},
		{"web[3-1]", `error: range "3-1" in [3-1] goes down`},
		{"web[1/2]", `error: invalid range "1/2" in [1/2]`},
		{"web[1-4/0]", `error: invalid range "1-4/0" in [1-4/0]`},
		{"web[1-2],,db1", "error: empty name between commas"},
		{"web[1-1000000]", "error: expands to more than 100000 names"},
		{"a[1-1000]b[1-1000]", "error: expands to more than 100000 names"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := expandNodeSet(tt.in)
			if tt.in == "web[001-100]" {
				if err != nil || len(got) != 100 || got[0] != "web001" || got[99] != "web100" {
					t.Errorf("got %d names (%v), err %v", len(got), got[:min(len(got), 3)], err)
				}
				return
			}
			if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.Fields(tt.want); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}
