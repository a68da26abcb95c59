package nodeset

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"strings"
)

// Resolver gives node groups their nodes, as ClusterShell's group resolver
// does. A source "" is the default source. Each result is a list of node set
// strings, which may name groups of their own (resolved in the same source).
// Errors name the source and the group.
type Resolver interface {
	// Nodes returns the nodes of group in source; an unknown group or source
	// is an error.
	Nodes(source, group string) ([]string, error)
	// All returns every node of source ("@*", "@source:*").
	All(source string) ([]string, error)
	// Groups returns the group names of source ("@@source").
	Groups(source string) ([]string, error)
}

// maxGroupDepth bounds how deep groups may name groups, so that a group that
// includes itself is an error rather than a loop.
const maxGroupDepth = 32

// groupScope resolves the groups and wildcards of one evaluation: its
// resolver, the source that unprefixed groups belong to (a group's nodes are
// read in the group's source, as ClusterShell does) and how deep it is.
type groupScope struct {
	r      Resolver
	source string
	depth  int
	all    map[string]map[string]struct{} // source -> "@*", for wildcards
}

// operand expands one operand: names, or with a resolver, groups and wildcards.
func (g *groupScope) operand(o *operand) (map[string]struct{}, error) {
	isGroup := strings.HasPrefix(o.parts[0], "@")
	wild := strings.ContainsAny(o.pattern(), "*?")
	if g == nil {
		if isGroup {
			return nil, fmt.Errorf("node groups such as %q are not supported here: list the hosts", o.pattern())
		}
		if wild {
			return nil, fmt.Errorf("wildcards such as %q are not supported here: list the hosts", o.pattern())
		}
	}
	names, err := o.names()
	if err != nil || g == nil || (!isGroup && !wild) {
		return names, err
	}
	out := map[string]struct{}{}
	if isGroup {
		// "@rack[1-2]" is the groups @rack1 and @rack2.
		for ref := range names {
			if err := g.group(ref, out); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	all, err := g.allNodes(g.source)
	if err != nil {
		return nil, fmt.Errorf("wildcard %q: %w", o.pattern(), err)
	}
	for mask := range names {
		for n := range all {
			if ok, _ := path.Match(mask, n); ok {
				out[n] = struct{}{}
			}
		}
	}
	return out, nil
}

// group adds the nodes of ref ("@group", "@source:group", "@*", "@source:*",
// "@@source") to out.
func (g *groupScope) group(ref string, out map[string]struct{}) error {
	if g.depth >= maxGroupDepth {
		return fmt.Errorf("%s: groups nest more than %d deep (does a group include itself?)", ref, maxGroupDepth)
	}
	name := ref[1:]
	source := g.source
	if s, grp, ok := strings.Cut(name, ":"); ok {
		source, name = s, grp
	}
	var (
		list []string
		err  error
	)
	switch {
	case name == "*":
		all, err := g.allNodes(source)
		if err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
		maps.Copy(out, all)
		return nil
	case strings.HasPrefix(name, "@"):
		source = strings.TrimPrefix(ref, "@@")
		list, err = g.r.Groups(source)
	case name == "":
		return fmt.Errorf("%q: a group name is missing after @", ref)
	default:
		list, err = g.r.Nodes(source, name)
	}
	if err != nil {
		return err
	}
	inner := &groupScope{r: g.r, source: source, depth: g.depth + 1, all: g.all}
	set, err := evaluate(strings.Join(list, ","), inner)
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	maps.Copy(out, set)
	return nil
}

// allNodes is "@*" of source, resolved once per evaluation.
func (g *groupScope) allNodes(source string) (map[string]struct{}, error) {
	if set, ok := g.all[source]; ok {
		return set, nil
	}
	list, err := g.r.All(source)
	if err != nil {
		return nil, err
	}
	// A wildcard or "@*" inside "@*" would ask for "@*" again: an error.
	inner := &groupScope{r: noWildcards{g.r}, source: source, depth: g.depth + 1, all: g.all}
	set, err := evaluate(strings.Join(list, ","), inner)
	if err != nil {
		return nil, err
	}
	g.all[source] = set
	return set, nil
}

// noWildcards is a resolver whose "@*" is an error. (ClusterShell reads a
// wildcard inside all nodes as a plain name, which no host can have.)
type noWildcards struct{ Resolver }

var errAllInAll = errors.New("all nodes are defined by all nodes")

func (n noWildcards) All(source string) ([]string, error) { return nil, errAllInAll }
