package core

import (
	"bytes"
	"fmt"
	"github.com/grifork/grifork/internal/testkit/golden"
	"reflect"
	"strings"
	"testing"
)

func webHosts(n int) []Host {
	hs := make([]Host, n)
	for i := range hs {
		hs[i] = Host{Name: fmt.Sprintf("web%d", i+1)}
	}
	return hs
}

func mustTree(t *testing.T, n, branches int) *Tree {
	t.Helper()
	tr, err := BuildTree(webHosts(n), branches)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// find returns the node of tr with id, or nil.
func find(tr *Tree, id string) *Node {
	var found *Node
	tr.Walk(func(n *Node) {
		if found == nil && n.ID == id {
			found = n
		}
	})
	return found
}

// genSizes gives the number of nodes of each generation.
func genSizes(tr *Tree) []int {
	var s []int
	for _, g := range tr.Generations() {
		s = append(s, len(g))
	}
	return s
}

func TestBuildTreeShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		hosts, branches int
		depth           int
		gens            []int
		rootChildren    int
		ids             map[string]string // host -> id
	}{
		{hosts: 1, branches: 3, depth: 1, gens: []int{1}, rootChildren: 1,
			ids: map[string]string{"web1": "0.0-1.0"}},
		{hosts: 4, branches: 3, depth: 2, gens: []int{3, 1}, rootChildren: 3,
			ids: map[string]string{"web3": "0.0-1.2", "web4": "0.0-1.0-2.0"}},
		{hosts: 7, branches: 3, depth: 2, gens: []int{3, 4}, rootChildren: 3,
			ids: map[string]string{"web6": "0.0-1.0-2.2", "web7": "0.0-1.1-2.0"}},
		{hosts: 13, branches: 3, depth: 3, gens: []int{3, 9, 1}, rootChildren: 3,
			ids: map[string]string{"web12": "0.0-1.2-2.2", "web13": "0.0-1.0-2.0-3.0"}},
		{hosts: 120, branches: 3, depth: 4, gens: []int{3, 9, 27, 81}, rootChildren: 3,
			ids: map[string]string{"web120": "0.0-1.2-2.2-3.2-4.2", "web40": "0.0-1.0-2.0-3.0-4.0"}},
		{hosts: 5, branches: 1, depth: 5, gens: []int{1, 1, 1, 1, 1}, rootChildren: 1,
			ids: map[string]string{"web5": "0.0-1.0-2.0-3.0-4.0-5.0"}},
		{hosts: 0, branches: 4, depth: 0, gens: nil, rootChildren: 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d_hosts_branches_%d", tc.hosts, tc.branches), func(t *testing.T) {
			t.Parallel()
			tr := mustTree(t, tc.hosts, tc.branches)
			if got := tr.Depth(); got != tc.depth {
				t.Errorf("depth %d, want %d", got, tc.depth)
			}
			if got := genSizes(tr); !reflect.DeepEqual(got, tc.gens) {
				t.Errorf("generation sizes %v, want %v", got, tc.gens)
			}
			if got := len(tr.Root.Children); got != tc.rootChildren {
				t.Errorf("root has %d children, want %d", got, tc.rootChildren)
			}
			nodes := tr.Nodes()
			if len(nodes) != tc.hosts+1 {
				t.Fatalf("%d nodes, want %d", len(nodes), tc.hosts+1)
			}
			if r := nodes[0]; r != tr.Root || r.ID != "0.0" || r.Level != 0 || r.Name() != RootHost || !r.IsRoot() {
				t.Errorf("bad root %+v", r)
			}
			byName := map[string]*Node{}
			for i, n := range nodes {
				byName[n.Name()] = n
				if n.Index != i {
					t.Errorf("%s: index %d, want %d (tree order is order of addition)", n.Name(), n.Index, i)
				}
				if i > 0 && n.Name() != fmt.Sprintf("web%d", i) {
					t.Errorf("node %d is %s, want web%d", i, n.Name(), i)
				}
				if len(n.Children) > tc.branches {
					t.Errorf("%s has %d children, more than %d", n.Name(), len(n.Children), tc.branches)
				}
				for j, c := range n.Children {
					if c.Parent != n || c.Level != n.Level+1 || c.Number != j ||
						c.ID != fmt.Sprintf("%s-%d.%d", n.ID, c.Level, j) {
						t.Errorf("bad child %d of %s: %+v", j, n.ID, c)
					}
				}
			}
			// Breadth-first fill: a node only has children once every earlier node is full.
			for i, n := range nodes {
				if len(n.Children) == 0 {
					continue
				}
				for _, e := range nodes[:i] {
					if len(e.Children) != tc.branches {
						t.Errorf("%s has children while earlier %s is not full", n.Name(), e.Name())
					}
				}
			}
			for host, id := range tc.ids {
				if n := byName[host]; n == nil || n.ID != id {
					t.Errorf("%s: got %v, want id %s", host, n, id)
				}
				if n := find(tr, id); n == nil || n.Name() != host {
					t.Errorf("node %s = %v, want %s", id, n, host)
				}
			}
		})
	}
}

func TestBuildTreeComplete120(t *testing.T) {
	t.Parallel()
	tr := mustTree(t, 120, 3)
	for _, n := range tr.Nodes() {
		want := 3
		if n.Level == 4 {
			want = 0
		}
		if len(n.Children) != want {
			t.Errorf("%s (level %d) has %d children, want %d", n.ID, n.Level, len(n.Children), want)
		}
	}
}

func TestBuildTreeErrors(t *testing.T) {
	t.Parallel()
	for _, b := range []int{0, -1} {
		if _, err := BuildTree(webHosts(3), b); err == nil || !strings.Contains(err.Error(), "branches must be >= 1") {
			t.Errorf("branches %d: err %v", b, err)
		}
	}
}

func TestBuildTreeDeterministic(t *testing.T) {
	t.Parallel()
	a, b := mustTree(t, 50, 4), mustTree(t, 50, 4)
	ja, err := MarshalTree(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := MarshalTree(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ja, jb) {
		t.Error("same hosts and branches gave different trees")
	}
}

// sameShape compares two trees node by node, parent pointers included.
func sameShape(t *testing.T, got, want *Node) {
	t.Helper()
	if got.ID != want.ID || got.Level != want.Level || got.Number != want.Number ||
		got.Index != want.Index || got.Host != want.Host || len(got.Children) != len(want.Children) {
		t.Fatalf("node differs: got %+v, want %+v", got, want)
	}
	for i := range got.Children {
		if got.Children[i].Parent != got {
			t.Fatalf("child %s of %s has parent %v", got.Children[i].ID, got.ID, got.Children[i].Parent)
		}
		sameShape(t, got.Children[i], want.Children[i])
	}
}

func TestSubtree(t *testing.T) {
	t.Parallel()
	tr := mustTree(t, 13, 3)
	web1 := find(tr, "0.0-1.0")
	sub := tr.Subtree(web1)
	if sub.Root == web1 || sub.Root.Parent != nil || !sub.Root.IsRoot() {
		t.Fatal("subtree root must be a parentless copy")
	}
	sameShape(t, sub.Root, web1)
	if sub.Branches != 3 || sub.Depth() != 2 || !reflect.DeepEqual(genSizes(sub), []int{3, 1}) {
		t.Errorf("subtree branches %d depth %d gens %v", sub.Branches, sub.Depth(), genSizes(sub))
	}
	if n := find(sub, "0.0-1.0-2.0-3.0"); n == nil || n.Name() != "web13" {
		t.Errorf("web13 not kept in the subtree: %v", n)
	}
	// Not re-filled: web2's subtree keeps its 3 children and no grandchildren.
	sub2 := tr.Subtree(find(tr, "0.0-1.1"))
	if sub2.Depth() != 1 || len(sub2.Root.Children) != 3 || sub2.Root.Children[2].ID != "0.0-1.1-2.2" {
		t.Errorf("web2 subtree reshaped: depth %d", sub2.Depth())
	}
	// A leaf's subtree is the leaf alone.
	if leaf := tr.Subtree(find(tr, "0.0-1.2-2.2")); leaf.Depth() != 0 || len(leaf.Nodes()) != 1 {
		t.Errorf("leaf subtree has %d nodes", len(leaf.Nodes()))
	}
}

func TestTreeJSONRoundTrip(t *testing.T) {
	t.Parallel()
	hosts := append(webHosts(12), Host{Name: "db1", User: "deploy", Port: 2222}, Host{Name: "fe80::1", Port: 22})
	tr, err := BuildTree(hosts, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, root := range []*Node{tr.Root, find(tr, "0.0-1.0"), find(tr, "0.0-1.1-2.0")} {
		sub := tr.Subtree(root)
		b, err := MarshalTree(sub)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalTree(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Branches != 3 || got.Root.Parent != nil {
			t.Fatalf("branches %d, root parent %v", got.Branches, got.Root.Parent)
		}
		sameShape(t, got.Root, root)
	}
}

func TestTreeJSONGolden(t *testing.T) {
	t.Parallel()
	tr := mustTree(t, 4, 3)
	b, err := MarshalTree(tr.Subtree(find(tr, "0.0-1.0")))
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/tree_subtree.json", string(b)+"\n")
}

func TestUnmarshalTreeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`nope`, "decode tree: invalid character"},
		{`{"branches":3}`, "decode tree: no root"},
		{`{"branches":0,"root":{"id":"0.0","host":{"name":"localhost"}}}`, "branches must be >= 1"},
		{`{"branches":3,"root":{"id":"0.0","host":{"name":"localhost"},"children":[{"id":"0.0-2.0","level":2,"host":{"name":"a"}}]}}`,
			"node 0.0-2.0 has level 2 under level 0"},
		{`{"branches":3,"root":{"id":"0.0","host":{"name":"localhost"},"children":[{"id":"0.0","level":1,"host":{"name":"a"}}]}}`,
			`duplicate node id "0.0"`},
		{`{"branches":3,"root":{"id":"0.0","host":{"name":"localhost"},"children":[null]}}`, "null child"},
		{`{"branches":3,"root":{"id":"0.0","host":{}}}`, "node 0.0 has no host name"},
		{`{"branches":3,"root":{"id":"0.0","host":{"name":"localhost"},"children":[{"id":"0.0-1.1","level":1,"number":1,"host":{"name":"a"}}]}}`,
			"node 0.0-1.1 is child 0 of 0.0"},
		{`{"branches":3,"root":{"id":"0.0","host":{"name":"localhost"},"children":[{"id":"a","level":1,"host":{"name":"a"}}]}}`,
			"node a is child 0 of 0.0"},
	}
	for _, tc := range tests {
		_, err := UnmarshalTree([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		hosts    []Host
		branches int
		sub      string // render the subtree of this id, if set
	}{
		{name: "13_b3", hosts: webHosts(13), branches: 3},
		{name: "5_b1", hosts: webHosts(5), branches: 1},
		{name: "0_b4", hosts: nil, branches: 4},
		{name: "13_b3_sub", hosts: webHosts(13), branches: 3, sub: "0.0-1.0"},
		{name: "users_ports", hosts: []Host{{Name: "a", User: "deploy"}, {Name: "b", Port: 2222}, {Name: "fe80::1", User: "u", Port: 22}}, branches: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, err := BuildTree(tc.hosts, tc.branches)
			if err != nil {
				t.Fatal(err)
			}
			if tc.sub != "" {
				tr = tr.Subtree(find(tr, tc.sub))
			}
			var txt, dot bytes.Buffer
			if err := RenderText(&txt, tr); err != nil {
				t.Fatal(err)
			}
			if err := RenderDOT(&dot, tr); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "testdata/render/"+tc.name+".txt", txt.String())
			golden.Check(t, "testdata/render/"+tc.name+".dot", dot.String())
		})
	}
}
