package core

import (
	"fmt"
)

// Node is one node of the host tree. The root is the machine running grifork
// (Host.Name "localhost", level 0, id "0.0").
type Node struct {
	ID       string // "<parent id>-<level>.<number>"; "0.0" for the root
	Level    int
	Number   int // position among its parent's children
	Index    int // order of addition; 0 for the root
	Host     Host
	Parent   *Node   `json:"-"`
	Children []*Node `json:",omitempty"`
}

// Name is what output, reports and Lua task blocks call the node.
func (n *Node) Name() string { return n.Host.String() }

// IsRoot reports whether n is the local machine.
func (n *Node) IsRoot() bool { return n.Parent == nil }

// Tree is the host tree of a run.
type Tree struct {
	Root     *Node
	Branches int
}

// RootHost is the name of the root node: the machine that runs grifork.
const RootHost = "localhost"

// BuildTree adds hosts in list order, each as a child of the first node (in order
// of addition) that has fewer than branches children: a breadth-first fill.
func BuildTree(hosts []Host, branches int) (*Tree, error) {
	if branches < 1 {
		return nil, fmt.Errorf("branches must be >= 1, got %d", branches)
	}
	root := &Node{ID: "0.0", Host: Host{Name: RootHost}}
	order := []*Node{root}
	open := 0 // index in order of the first node that can take a child
	for i, h := range hosts {
		for len(order[open].Children) >= branches {
			open++
		}
		p := order[open]
		n := &Node{
			Level:  p.Level + 1,
			Number: len(p.Children),
			Index:  i + 1,
			Host:   h,
			Parent: p,
		}
		n.ID = fmt.Sprintf("%s-%d.%d", p.ID, n.Level, n.Number)
		p.Children = append(p.Children, n)
		order = append(order, n)
	}
	return &Tree{Root: root, Branches: branches}, nil
}

// Walk calls fn for every node breadth-first, in order of addition.
func (t *Tree) Walk(fn func(*Node)) {
	queue := []*Node{t.Root}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		fn(n)
		queue = append(queue, n.Children...)
	}
}
