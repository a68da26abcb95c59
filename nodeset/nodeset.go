package nodeset

import (
	"strings"
	"unicode"
)

// Limit bounds the names one node set may hold at any step of its evaluation,
// so that a typo such as "web[1-10000000]" is an error rather than an
// exhausted machine.
const Limit = 100000

// Expand returns the names of a node set, each once, in ClusterShell's order:
// by pattern (the name with its numbers taken out), then by number, shorter
// numbers first ("n1,n2,n10,n01" gives n1 n2 n01 n10); names with several
// numbers come product by product of their folded form ("r1n5,r2n[1-3]"
// gives r2n1 r2n2 r2n3 r1n5). An empty or blank string is the empty set.
// Errors name the part at fault and fit on one line.
func Expand(pattern string) ([]string, error) {
	return ExpandWith(pattern, nil)
}

// ExpandWith is Expand with the node groups of r: "@group", "@source:group",
// "@*", "@source:*", "@@source" (the group names of a source) and wildcards
// ("web*", matched against "@*") resolve as ClusterShell's NodeSet does with
// its group resolver. A nil r makes them errors.
func ExpandWith(pattern string, r Resolver) ([]string, error) {
	var g *groupScope
	if r != nil {
		g = &groupScope{r: r, all: map[string]map[string]struct{}{}}
	}
	set, err := evaluate(pattern, g)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(set))
	for _, g := range groupNames(set) {
		names = g.appendNames(names)
	}
	return names, nil
}

// Fold returns the node set of names, folded and sorted as ClusterShell's
// NodeSet.fromlist(names) prints it: "web[01-40,42]", several patterns comma
// separated ("db1,web[01-03]"), names with several numbers folded on every
// axis ("r[1-2]n[1-3],r3n1"). Duplicates count once; "n1" and "n01" stay
// distinct. Expand(Fold(names)) gives the set of names back for any names that
// a node set can hold (every name of an Expand result can).
func Fold(names []string) string {
	set := make(map[string]struct{}, len(names))
	for _, n := range names {
		set[n] = struct{}{}
	}
	var out []string
	for _, g := range groupNames(set) {
		out = g.appendFolded(out)
	}
	return strings.Join(out, ",")
}

// isSpace is Python's str.isspace, which ClusterShell's stripping relies on.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}
