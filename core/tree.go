package core

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
)

// Node is one node of the host tree. The root is the machine running grifork
// (Host.Name "localhost", level 0, id "0.0").
type Node struct {
	ID       string  `json:"id"` // "<parent id>-<level>.<number>"; "0.0" for the root
	Level    int     `json:"level"`
	Number   int     `json:"number"` // position among its parent's children
	Index    int     `json:"index"`  // order of addition; 0 for the root
	Host     Host    `json:"host"`
	Parent   *Node   `json:"-"`
	Children []*Node `json:"children,omitempty"`
}

// Name is what output, reports and Lua task blocks call the node.
func (n *Node) Name() string { return n.Host.String() }

// IsRoot reports whether n is the local machine.
func (n *Node) IsRoot() bool { return n.Parent == nil }

// Tree is the host tree of a run.
type Tree struct {
	Root     *Node
	Branches int

	n int // its nodes, root included, when built here (0: count them)
}

// RootHost is the name of the root node: the machine that runs grifork.
const RootHost = "localhost"

// BuildTree adds hosts in list order, each as a child of the first node (in order
// of addition) that has fewer than branches children: a breadth-first fill.
func BuildTree(hosts []Host, branches int) (*Tree, error) {
	if branches < 1 {
		return nil, fmt.Errorf("branches must be >= 1, got %d", branches)
	}
	// One array for the nodes and one for the children of all of them (a
	// node's children are added one after another): 100,000 hosts are not
	// 200,000 allocations.
	nodes := make([]Node, len(hosts)+1)
	kids := make([]*Node, len(hosts)) // kids[i] is node i+1
	root := &nodes[0]
	*root = Node{ID: "0.0", Host: Host{Name: RootHost}}
	open := 0 // the first node that can take a child
	for i, h := range hosts {
		for len(nodes[open].Children) >= branches {
			open++
		}
		p := &nodes[open]
		n := &nodes[i+1]
		*n = Node{
			Level:  p.Level + 1,
			Number: len(p.Children),
			Index:  i + 1,
			Host:   h,
			Parent: p,
		}
		n.ID = p.ID + "-" + strconv.Itoa(n.Level) + "." + strconv.Itoa(n.Number)
		kids[i] = n
		first := i - len(p.Children)
		p.Children = kids[first : i+1 : i+1]
	}
	return &Tree{Root: root, Branches: branches, n: len(nodes)}, nil
}

// Walk calls fn for every node breadth-first, in order of addition.
func (t *Tree) Walk(fn func(*Node)) {
	fn(t.Root)
	walkBelow(t.Root, fn)
}

// walkBelow calls fn for every descendant of n (not n) breadth-first.
func walkBelow(n *Node, fn func(*Node)) {
	// An index rather than re-slicing the front: the queue's array is then
	// grown a few times instead of copied over and over. And the array is
	// kept for the next walk: a dry run walks trees of 100,000 nodes dozens of
	// times, and growing a queue for each was a twentieth of its time.
	qp := walkQueues.Get().(*[]*Node)
	queue := append((*qp)[:0], n.Children...)
	for i := 0; i < len(queue); i++ {
		n := queue[i]
		fn(n)
		queue = append(queue, n.Children...)
	}
	clear(queue) // a kept array holds no tree
	*qp = queue[:0]
	walkQueues.Put(qp)
}

// walkQueues holds walkBelow's queues between walks (a walk's fn may walk too).
var walkQueues = sync.Pool{New: func() any { return new([]*Node) }}

// size is the number of nodes of t, its root included.
func (t *Tree) size() int {
	if t.n > 0 {
		return t.n // a dry run of 100,000 hosts asks at every level, for every fork
	}
	n := 1
	walkBelow(t.Root, func(*Node) { n++ })
	return n
}

// Nodes returns every node, the root first, in tree order (as Walk visits them).
func (t *Tree) Nodes() []*Node {
	var ns []*Node
	t.Walk(func(n *Node) { ns = append(ns, n) })
	return ns
}

// Depth is the number of generations below the root: 0 for a lone root.
func (t *Tree) Depth() int {
	d := 0
	t.Walk(func(n *Node) { d = max(d, n.Level-t.Root.Level) })
	return d
}

// Generations returns the nodes below the root grouped by generation: element 0
// holds the root's children, element i the nodes i+1 levels below the root, each in
// tree order. Levels are counted from this tree's root, so a subtree works alike.
func (t *Tree) Generations() [][]*Node {
	gens := make([][]*Node, t.Depth())
	t.Walk(func(n *Node) {
		if g := n.Level - t.Root.Level; g > 0 {
			gens[g-1] = append(gens[g-1], n)
		}
	})
	return gens
}

// Subtree returns a copy of the part of t below and including n, n as its root.
// Ids, levels, numbers and shape are kept exactly (nothing is re-filled), so the
// copy is what grifork mode hands to n. The copy's root has no parent.
func (t *Tree) Subtree(n *Node) *Tree {
	sub, _ := t.subtree(n)
	return sub
}

// subtree is Subtree, with the number of its nodes. Its nodes are copied into
// one array, and their children into another: a fork high in a large tree
// copies most of it.
func (t *Tree) subtree(n *Node) (*Tree, int) {
	order := append(make([]*Node, 0, 1+len(n.Children)), n) // breadth-first
	for i := 0; i < len(order); i++ {
		order = append(order, order[i].Children...)
	}
	nodes := make([]Node, len(order))
	kids := make([]*Node, len(order)-1) // kids[i] is the copy of order[i+1]
	next := 1                           // in order: the first child of the node being copied
	for i, o := range order {
		c := &nodes[i]
		*c = Node{ID: o.ID, Level: o.Level, Number: o.Number, Index: o.Index, Host: o.Host, Parent: c.Parent}
		if len(o.Children) == 0 {
			continue
		}
		end := next + len(o.Children)
		c.Children = kids[next-1 : end-1 : end-1]
		for j := next; j < end; j++ {
			kids[j-1] = &nodes[j]
			nodes[j].Parent = c
		}
		next = end
	}
	return &Tree{Root: &nodes[0], Branches: t.Branches, n: len(nodes)}, len(nodes)
}

type treeJSON struct {
	Branches int   `json:"branches"`
	Root     *Node `json:"root"`
}

// MarshalTree encodes t (a whole tree or a Subtree) as JSON for UnmarshalTree.
func MarshalTree(t *Tree) ([]byte, error) {
	return json.Marshal(treeJSON{Branches: t.Branches, Root: t.Root})
}

// UnmarshalTree decodes a tree written by MarshalTree, restores the parent
// pointers and checks that the shape is consistent, since it may come from
// another host.
func UnmarshalTree(b []byte) (*Tree, error) {
	var tj treeJSON
	if err := json.Unmarshal(b, &tj); err != nil {
		return nil, fmt.Errorf("decode tree: %w", err)
	}
	if tj.Root == nil {
		return nil, fmt.Errorf("decode tree: no root")
	}
	if tj.Branches < 1 {
		return nil, fmt.Errorf("decode tree: branches must be >= 1, got %d", tj.Branches)
	}
	seen := map[string]bool{}
	var check func(n *Node) error
	check = func(n *Node) error {
		if n == nil {
			return fmt.Errorf("decode tree: null node")
		}
		if n.ID == "" || seen[n.ID] {
			return fmt.Errorf("decode tree: missing or duplicate node id %q", n.ID)
		}
		seen[n.ID] = true
		if n.Host.Name == "" {
			return fmt.Errorf("decode tree: node %s has no host name", n.ID)
		}
		for i, c := range n.Children {
			if c == nil {
				return fmt.Errorf("decode tree: node %s has a null child", n.ID)
			}
			if c.Level != n.Level+1 {
				return fmt.Errorf("decode tree: node %s has level %d under level %d", c.ID, c.Level, n.Level)
			}
			c.Parent = n
			if err := check(c); err != nil {
				return err
			}
			// A report finds a node's result by the path its id spells
			// (Report.walk): a node it cannot find would be reported twice.
			if c.Number != i || c.ID != n.ID+"-"+strconv.Itoa(c.Level)+"."+strconv.Itoa(i) {
				return fmt.Errorf("decode tree: node %s is child %d of %s", c.ID, i, n.ID)
			}
		}
		return nil
	}
	if err := check(tj.Root); err != nil {
		return nil, err
	}
	return &Tree{Root: tj.Root, Branches: tj.Branches}, nil
}
