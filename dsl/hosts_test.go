package dsl

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/grifork/grifork/nodeset"
)

// The node-set syntax itself is tested in package nodeset; these cases are
// what the hosts directive adds: users, ports, IPv6 addresses, duplicates.
func TestExpandHosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		entries []string
		want    string // space-separated hosts as String() prints them, "count: N" or "error: <text>"
	}{
		{[]string{"web1"}, "web1"},
		{[]string{"web[1-3]"}, "web1 web2 web3"},
		{[]string{"db[7,1-2]", "web1"}, "db1 db2 db7 web1"},
		{[]string{"web1", "db[7,1-2]"}, "web1 db1 db2 db7"},
		{[]string{"prod-2[10-320]"}, "count: 2111"}, // ClusterShell's prod-[210-2320]
		{[]string{"n[9-10]0"}, "n90 n100"},
		{[]string{"deploy@web[1-2]:2222"}, "deploy@web1:2222 deploy@web2:2222"},
		{[]string{"[fe80::1]:22"}, "[fe80::1]:22"},
		{[]string{"deploy@[2001:db8::1]"}, "deploy@2001:db8::1"},
		{[]string{"fe80::[1-2]"}, "fe80::1 fe80::2"},
		{[]string{"web[1-4]!web[2-3]"}, "web1 web4"},
		{[]string{"db[1,1]"}, "db1"},
		{[]string{"n[1-044]"}, `error: hosts: entry 1 "n[1-044]": range "1-044" in "[1-044]": padding length mismatch`},
		{[]string{"web1", ""}, `error: hosts: entry 2 "" holds no host`},
		{[]string{"web1!web1"}, `error: hosts: entry 1 "web1!web1" holds no host`},
		{[]string{"db1:22,db1:0022"}, `error: hosts: "db1:22" and "db1:0022" are the same host in entry 1`},
		{[]string{"web[1-3]", "web2"}, `error: hosts: "web2" is listed twice: entry 1 "web[1-3]" and entry 2 "web2"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.entries, " "), func(t *testing.T) {
			t.Parallel()
			hosts, err := expandHosts(tt.entries)
			if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n, ok := strings.CutPrefix(tt.want, "count: "); ok {
				if strconv.Itoa(len(hosts)) != n {
					t.Errorf("%d hosts, want %s", len(hosts), n)
				}
				return
			}
			var got []string
			for _, h := range hosts {
				got = append(got, h.String())
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("got %q, want %q", g, tt.want)
			}
		})
	}
}

// The fast path for "prefix[a-b]suffix" gives what nodeset.Expand gives, for
// every entry it takes.
func FuzzSimpleRange(f *testing.F) {
	for _, s := range []string{"h[1-100000].example", "web[1-12].internal", "h[0-3]", "h[3-1].x", "h[01-10].x",
		"prod-2[10-320]", "h[1-3]0", "h[1-3],x", "a.b-c_d[7-7]e", "h[1-100001]", "[1-3]x", "x[1-3]", "h[1-2][1-2]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, e string) {
		got, ok := simpleRange(e)
		if !ok {
			return
		}
		want, err := nodeset.Expand(e)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("simpleRange(%q) = %d names %.3q, nodeset.Expand: %d names %.3q, err %v", e, len(got), got, len(want), want, err)
		}
	})
}

func TestSimpleRangeTakesTheCommonForm(t *testing.T) {
	t.Parallel()
	names, ok := simpleRange("h[1-100000].example")
	if !ok || len(names) != 100000 || names[0] != "h1.example" || names[99999] != "h100000.example" {
		t.Errorf("simpleRange: ok %v, %d names", ok, len(names))
	}
}
