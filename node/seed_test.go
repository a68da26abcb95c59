package node

import (
	"bufio"
	"fmt"
	"strings"
	"testing"

	"github.com/grifork/grifork/core"
)

// TestSeedParents checks the tree the binary takes on a cold start: the root
// ships only to its own children, every other host gets it from exactly one
// host, which got it before (no cycle), and none seeds more than seedBranches.
func TestSeedParents(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ hosts, branches, depth int }{
		{1, 1, 0}, {16, 1, 2}, {16, 2, 2}, {48, 1, 3}, {48, 4, 2}, {5, 4, 1},
	} {
		t.Run(fmt.Sprintf("%d hosts, branches %d", tc.hosts, tc.branches), func(t *testing.T) {
			t.Parallel()
			var hosts []core.Host
			for i := range tc.hosts {
				hosts = append(hosts, core.Host{Name: fmt.Sprintf("h%d", i)})
			}
			tr, err := core.BuildTree(hosts, tc.branches)
			if err != nil {
				t.Fatal(err)
			}
			sp := seedParents(tr)
			if got, want := len(sp), tc.hosts-len(tr.Root.Children); got != want {
				t.Fatalf("%d hosts seeded by a relay, want %d", got, want)
			}
			fromRoot := map[string]bool{}
			for _, c := range tr.Root.Children {
				fromRoot[c.Name()] = true
				if _, ok := sp[c.Name()]; ok {
					t.Errorf("%s, a child of the root, has a seeder", c.Name())
				}
			}
			seeds := map[string]int{}
			depth := 0
			for h := range sp {
				d := 0
				for x := h; !fromRoot[x]; x = sp[x] {
					if d++; d > tc.hosts {
						t.Fatalf("%s: the seeders go round in a cycle", h)
					}
				}
				depth = max(depth, d)
				seeds[sp[h]]++
			}
			for s, n := range seeds {
				if n > seedBranches {
					t.Errorf("%s seeds %d hosts, more than %d", s, n, seedBranches)
				}
			}
			if depth != tc.depth {
				t.Errorf("the deepest host is %d seedings below the root's children, want %d", depth, tc.depth)
			}
		})
	}
}

// TestReadConnect reads seed requests, then the connect message that ends
// them, as a relay does.
func TestReadConnect(t *testing.T) {
	t.Parallel()
	in := `{"seed":{"name":"h2","host":{"name":"h2"},"socket":""}}
{"seed":{"name":"h3","host":{"name":"h3"},"socket":""}}
{"parent":"h1","children":[{"name":"h4","host":{"name":"h4"},"socket":"/s"}]}
`
	var seeded []string
	conn, err := readConnect(bufio.NewReader(strings.NewReader(in)), func(p relayPeer) { seeded = append(seeded, p.Name) })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seeded, " ") != "h2 h3" || conn.Parent != "h1" || len(conn.Children) != 1 || conn.Children[0].Socket != "/s" || conn.Seed != nil {
		t.Errorf("seeded %v, then %+v", seeded, conn)
	}
	if _, err := readConnect(bufio.NewReader(strings.NewReader(`{"seed":{"name":"h2"}}`+"\n")), func(relayPeer) {}); err == nil {
		t.Error("the end of the input before the connect message is no error")
	}
}
