package core

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// RenderText writes t as an indented picture, one node a line with its id:
//
//	localhost (0.0)
//	├── web1 (0.0-1.0)
//	│   └── web4 (0.0-1.0-2.0)
//	└── web2 (0.0-1.1)
func RenderText(w io.Writer, t *Tree) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s (%s)\n", t.Root.Name(), t.Root.ID)
	var rec func(n *Node, indent string)
	rec = func(n *Node, indent string) {
		for i, c := range n.Children {
			branch, next := "├── ", "│   "
			if i == len(n.Children)-1 {
				branch, next = "└── ", "    "
			}
			// Written piece by piece: fmt boxed four strings per host of a
			// 100,000-host plan.
			bw.WriteString(indent)
			bw.WriteString(branch)
			bw.WriteString(c.Name())
			bw.WriteString(" (")
			bw.WriteString(c.ID)
			bw.WriteString(")\n")
			if len(c.Children) > 0 {
				rec(c, indent+next)
			}
		}
	}
	rec(t.Root, "")
	return bw.Flush()
}

// RenderDOT writes t as a Graphviz digraph: one vertex per node, keyed by id and
// labelled with host and id, and one arc per parent-child pair.
func RenderDOT(w io.Writer, t *Tree) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "digraph grifork {")
	fmt.Fprintln(bw, "\tnode [shape=box];")
	t.Walk(func(n *Node) {
		fmt.Fprintf(bw, "\t%s [label=%s];\n", dotQuote(n.ID), dotQuote(n.Name()+"\n"+n.ID))
	})
	t.Walk(func(n *Node) {
		for _, c := range n.Children {
			fmt.Fprintf(bw, "\t%s -> %s;\n", dotQuote(n.ID), dotQuote(c.ID))
		}
	})
	fmt.Fprintln(bw, "}")
	return bw.Flush()
}

// dotQuote makes s a DOT double-quoted string; a newline becomes a centred line break.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
