// Package nodeset parses, expands and folds node sets as ClusterShell writes
// them: "web[01-12].internal", "db[1-3,7]", "n[1-9/2]", "r[1-2]n[1-3]" (a
// cartesian product), "prod-2[10-320]" (digits next to a bracket join the
// numbers inside: prod-210 … prod-2320), and the operators of ClusterShell's
// extended string: "," union, "!" difference, "&" intersection, "^" symmetric
// difference, read from left to right.
//
// The semantics are those of ClusterShell 1.9 (lib/ClusterShell/NodeSet.py and
// RangeSet.py). What differs, on purpose, is listed in docs/griforkfile.md ("Hosts").
package nodeset
