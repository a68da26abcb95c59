package nodeset

import (
	"cmp"
	"slices"
	"strings"
)

// group holds the names of one pattern: the same text parts, numbers taken
// out ("r1n01" and "r2n07" are both r%sn%s).
type group struct {
	key   string // ClusterShell's pattern string, which orders the groups
	parts []string
	vecs  [][]string // the numbers of each name
	fold  []vector   // vecs folded, in ClusterShell's order
}

// A vector is a product of index sets, one per number of the pattern.
type vector []*rset

// groupNames sorts distinct names into their folded patterns.
func groupNames(set map[string]struct{}) []*group {
	byKey := map[string]*group{}
	for name := range set {
		parts, idx := splitName(name)
		key := patternKey(parts)
		g := byKey[key]
		if g == nil {
			g = &group{key: key, parts: parts}
			byKey[key] = g
		}
		g.vecs = append(g.vecs, idx)
	}
	groups := make([]*group, 0, len(byKey))
	for _, g := range byKey {
		g.fold = foldVectors(g.vecs)
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b *group) int { return strings.Compare(a.key, b.key) })
	return groups
}

// patternKey is the printf pattern ClusterShell stores a name under ("%"
// doubled, each number "%s"); its byte order is Python's string order.
func patternKey(parts []string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString("%s")
		}
		b.WriteString(strings.ReplaceAll(p, "%", "%%"))
	}
	return b.String()
}

// appendNames appends the group's names: vector by vector, each a product in
// which the last number varies fastest.
func (g *group) appendNames(out []string) []string {
	for _, v := range g.fold {
		axes := make([][]string, len(v))
		for i, r := range v {
			axes[i] = r.sorted()
		}
		var walk func(i int, prefix string)
		walk = func(i int, prefix string) {
			if i == len(axes) {
				out = append(out, prefix)
				return
			}
			for _, ix := range axes[i] {
				walk(i+1, prefix+ix+g.parts[i+1])
			}
		}
		walk(0, g.parts[0])
	}
	return out
}

// appendFolded appends one folded string per vector: an axis of one index
// is written bare, larger ones in brackets.
func (g *group) appendFolded(out []string) []string {
	for _, v := range g.fold {
		var b strings.Builder
		b.WriteString(g.parts[0])
		for i, r := range v {
			ix := r.sorted()
			if len(ix) == 1 {
				b.WriteString(ix[0])
			} else {
				b.WriteString("[" + strings.Join(runs(ix), ",") + "]")
			}
			b.WriteString(g.parts[i+1])
		}
		out = append(out, b.String())
	}
	return out
}

// rset is a set of indexes with its first and last in index order, which
// the folding's sort key needs. A set that no merge will change is only its
// sorted list.
type rset struct {
	m           map[string]struct{}
	first, last string
	list        []string
}

func single(ix string) *rset {
	return &rset{m: map[string]struct{}{ix: {}}, first: ix, last: ix}
}

func (r *rset) add(ix string) {
	r.m[ix] = struct{}{}
	if lessIndex(ix, r.first) {
		r.first = ix
	}
	if lessIndex(r.last, ix) {
		r.last = ix
	}
}

func (r *rset) sorted() []string {
	if r.m == nil {
		return r.list
	}
	out := make([]string, 0, len(r.m))
	for ix := range r.m {
		out = append(out, ix)
	}
	slices.SortFunc(out, compareIndex)
	return out
}

// union adds the smaller set into the larger and returns the larger. Both
// belong to vectors that the merge replaces, so changing them is safe.
func union(a, b *rset) *rset {
	if len(a.m) < len(b.m) {
		a, b = b, a
	}
	for ix := range b.m {
		a.m[ix] = struct{}{}
	}
	a.add(b.first)
	a.add(b.last)
	return a
}

type relation int

const (
	equal relation = iota
	disjoint
	nested // one holds the other
	overlapping
)

// relate compares two sets; it costs one lookup per index of the smaller.
func relate(a, b *rset, work *int) relation {
	small, large := a, b
	if len(small.m) > len(large.m) {
		small, large = large, small
	}
	*work += len(small.m) + 1
	common := 0
	for ix := range small.m {
		if _, ok := large.m[ix]; ok {
			common++
		}
	}
	switch {
	case common == 0:
		return disjoint
	case common < len(small.m):
		return overlapping
	case len(small.m) == len(large.m):
		return equal
	}
	return nested
}

// foldBudget bounds the lookups of one multi-dimensional fold. ClusterShell's
// last pass compares every pair of vectors; past this budget (only very
// irregular sets of many thousand names reach it) folding stops where it is:
// the result is still exact, only less compact.
const foldBudget = 5_000_000

// foldVectors folds the numbers of one pattern as ClusterShell's RangeSetND
// does: one dimension or one varying axis is a single vector; otherwise the
// names are merged pairwise, pass after pass, where two vectors differ on at
// most one axis.
func foldVectors(vecs [][]string) []vector {
	dim := len(vecs[0])
	if dim == 0 || len(vecs) == 1 {
		v := make(vector, dim)
		for i, ix := range vecs[0] {
			v[i] = single(ix)
		}
		return []vector{v}
	}
	if varying := varyingAxes(vecs); len(varying) == 1 {
		v := make(vector, dim)
		for i, ix := range vecs[0] {
			v[i] = single(ix)
		}
		// The names are distinct, so are the indexes of the one varying axis.
		axis := make([]string, len(vecs))
		for i, vec := range vecs {
			axis[i] = vec[varying[0]]
		}
		slices.SortFunc(axis, compareIndex)
		v[varying[0]] = &rset{list: axis}
		return []vector{v}
	}
	list := make([]vector, len(vecs))
	for i, vec := range vecs {
		list[i] = make(vector, dim)
		for j, ix := range vec {
			list[i][j] = single(ix)
		}
	}
	return mergeVectors(list)
}

func varyingAxes(vecs [][]string) []int {
	var out []int
	for axis := range vecs[0] {
		for _, v := range vecs[1:] {
			if v[axis] != vecs[0][axis] {
				out = append(out, axis)
				break
			}
		}
	}
	return out
}

// mergeVectors is RangeSetND._fold_multivariate_merge: sort, then let each
// vector absorb the vectors after it that differ from it on one axis only
// (stopping at the first that does not, until a pass changes nothing; then
// comparing every pair), until nothing changes.
func mergeVectors(list []vector) []vector {
	work := 0
	full, changed := false, true
	for changed {
		changed = false
		sortVectors(list)
		work += len(list)
		gone := make([]bool, len(list))
		for i := range list {
			if gone[i] {
				continue
			}
			for j := i + 1; j < len(list); j++ {
				if gone[j] {
					continue
				}
				merged, ok := merge(list[i], list[j], &work)
				if ok {
					changed = true
					list[i], gone[j] = merged, true
				}
				if work > foldBudget {
					return compact(list, gone)
				}
				if !ok && !full {
					break
				}
			}
		}
		list = compact(list, gone)
		if !changed && !full {
			changed, full = true, true
		}
	}
	return list
}

func compact(list []vector, gone []bool) []vector {
	out := list[:0]
	for i, v := range list {
		if !gone[i] {
			out = append(out, v)
		}
	}
	sortVectors(out)
	return out
}

// merge returns the union of a and b when it is one vector: equal on every
// axis but at most one, where they are disjoint or one holds the other.
func merge(a, b vector, work *int) (vector, bool) {
	axis, rel := -1, equal
	for i := range a {
		switch r := relate(a[i], b[i], work); r {
		case equal:
		case disjoint, nested:
			if axis >= 0 {
				return nil, false
			}
			axis, rel = i, r
		default:
			return nil, false
		}
	}
	out := slices.Clone(a)
	switch {
	case axis < 0:
	case rel == disjoint:
		out[axis] = union(a[axis], b[axis])
	case len(b[axis].m) > len(a[axis].m):
		out[axis] = b[axis]
	}
	return out, true
}

// sortVectors orders vectors as RangeSetND._sort: more names first, then axis
// by axis larger sets first, then by first and last index as text.
func sortVectors(list []vector) {
	slices.SortStableFunc(list, func(a, b vector) int {
		if c := cmp.Compare(size(b), size(a)); c != 0 {
			return c
		}
		for i := range a {
			if c := cmp.Compare(len(b[i].m), len(a[i].m)); c != 0 {
				return c
			}
			if c := strings.Compare(a[i].first, b[i].first); c != 0 {
				return c
			}
			if c := strings.Compare(a[i].last, b[i].last); c != 0 {
				return c
			}
		}
		return 0
	})
}

func size(v vector) int {
	n := 1
	for _, r := range v {
		n *= len(r.m)
	}
	return n
}
