package nodeset

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The scanner follows ClusterShell's ParsingEngine._scan_string step by step,
// so that the same strings are accepted and give the same names.

const operators = ",!&^"

// evaluate parses s and applies its operators from left to right; g resolves
// the node groups and wildcards it holds (nil: they are errors).
func evaluate(s string, g *groupScope) (map[string]struct{}, error) {
	s = strings.TrimFunc(s, isSpace)
	acc := map[string]struct{}{}
	op := byte(',')
	for s != "" {
		o, next, rest, err := scanOperand(strings.TrimLeftFunc(s, isSpace))
		if err != nil {
			return nil, err
		}
		names, err := g.operand(o)
		if err != nil {
			return nil, err
		}
		switch op {
		case ',':
			maps.Copy(acc, names)
		case '!':
			for n := range names {
				delete(acc, n)
			}
		case '&':
			for n := range acc {
				if _, ok := names[n]; !ok {
					delete(acc, n)
				}
			}
		case '^':
			for n := range names {
				if _, ok := acc[n]; ok {
					delete(acc, n)
				} else {
					acc[n] = struct{}{}
				}
			}
		}
		if len(acc) > Limit {
			return nil, fmt.Errorf("expands to more than %d names", Limit)
		}
		op, s = next, rest
	}
	return acc, nil
}

// operand is one node pattern between operators: literal parts around slots,
// each slot holding the indexes of a bracket (or the one number of a name).
type operand struct {
	parts []string // len(parts) == len(slots)+1
	slots [][]string
}

// text appends literal text; its numbers become one-index slots, as in
// ClusterShell's _scan_string_single.
func (o *operand) text(s string) error {
	parts, idx := splitName(s)
	o.parts[len(o.parts)-1] += parts[0]
	for i, ix := range idx {
		if value(ix).Cmp(maxIndex) > 0 {
			return fmt.Errorf("number %q in %q is larger than 1e100", ix, s)
		}
		o.slots = append(o.slots, []string{ix})
		o.parts = append(o.parts, parts[i+1])
	}
	return nil
}

func (o *operand) slot(indexes []string) {
	o.slots = append(o.slots, indexes)
	o.parts = append(o.parts, "")
}

// pattern is the operand with its brackets emptied, for messages.
func (o *operand) pattern() string { return strings.Join(o.parts, "[]") }

// names expands the operand: every combination of its slots.
func (o *operand) names() (map[string]struct{}, error) {
	total := 1
	for _, s := range o.slots {
		total *= len(s)
		if total > Limit {
			return nil, fmt.Errorf("expands to more than %d names", Limit)
		}
	}
	out := make(map[string]struct{}, total)
	var walk func(i int, prefix string)
	walk = func(i int, prefix string) {
		if i == len(o.slots) {
			out[prefix] = struct{}{}
			return
		}
		for _, ix := range o.slots[i] {
			walk(i+1, prefix+ix+o.parts[i+1])
		}
	}
	walk(0, o.parts[0])
	return out, nil
}

func missingOperand(op byte) error {
	return fmt.Errorf("missing node set on one side of operator %q", op)
}

// scanOperand reads the first operand of s (s starts with no space) and
// returns it with the operator that follows it and the text after that. Like
// ClusterShell, it reads brackets when one comes before the first operator.
// Each scan stops at the next bracket or operator, so that a long list of
// names costs linear time.
func scanOperand(s string) (o *operand, next byte, rest string, err error) {
	o = &operand{parts: []string{""}}
	first := strings.IndexAny(s, "["+operators)
	if first < 0 || s[first] != '[' {
		node := s
		if first >= 0 {
			node, next, rest = s[:first], s[first], s[first+1:]
			if node == "" || rest == "" {
				return nil, 0, "", missingOperand(next)
			}
		}
		if strings.Contains(node, "]") {
			return nil, 0, "", fmt.Errorf("%q: ] without [", node)
		}
		if err := o.text(strings.TrimRightFunc(node, isSpace)); err != nil {
			return nil, 0, "", err
		}
		return o, next, rest, nil
	}
	sfx := s
	for first >= 0 && sfx[first] == '[' {
		pfx := sfx[:first]
		rng, after, ok := strings.Cut(sfx[first+1:], "]")
		if !ok {
			return nil, 0, "", fmt.Errorf("%q: [ without ]", clip(sfx))
		}
		if strings.Contains(pfx, "]") {
			return nil, 0, "", fmt.Errorf("%q: ] without [", pfx)
		}
		sfx = after
		if i := strings.IndexAny(sfx, "[]"); i >= 0 && sfx[i] == ']' {
			return nil, 0, "", fmt.Errorf("%q: ] without [", clip(sfx))
		}
		if sfx != "" {
			if sfx, rng, err = amendTrailing(sfx, rng); err != nil {
				return nil, 0, "", err
			}
		}
		if pfx != "" {
			if pfx, rng, err = amendLeading(pfx, rng); err != nil {
				return nil, 0, "", err
			}
			if err := o.text(pfx); err != nil {
				return nil, 0, "", err
			}
		}
		if strings.HasPrefix(sfx, "[") {
			return nil, 0, "", fmt.Errorf("%q: a bracket right after another: write one bracket per number, as in r[1-2]n[1-3]", clip(s))
		}
		indexes, err := parseRangeSet(rng)
		if err != nil {
			return nil, 0, "", err
		}
		o.slot(indexes)
		first = strings.IndexAny(sfx, "["+operators)
	}
	if first >= 0 {
		sfx, next, rest = sfx[:first], sfx[first], sfx[first+1:]
		if rest == "" {
			return nil, 0, "", missingOperand(next)
		}
	}
	if err := o.text(strings.TrimRightFunc(sfx, isSpace)); err != nil {
		return nil, 0, "", err
	}
	return o, next, rest, nil
}

// clip shortens the rest of a long node set for an error message.
func clip(s string) string {
	if len(s) <= 60 {
		return s
	}
	return strings.ToValidUTF8(s[:60], "") + "…"
}

// amendTrailing moves the digits that follow a bracket into it, as
// ClusterShell does: "[1-3]0" is "[10-30/10]", "[1]56" is "[156]".
func amendTrailing(sfx, rng string) (string, string, error) {
	n := 0
	for n < len(sfx) && sfx[n] >= '0' && sfx[n] <= '9' {
		n++
	}
	if n == 0 {
		return sfx, rng, nil
	}
	digits := sfx[:n]
	if strings.Contains(rng, "/") {
		return "", "", fmt.Errorf("%q: digits after a bracket cannot follow a range with a step", "["+rng+"]"+digits)
	}
	if _, err := shiftable(rng, "["+rng+"]"+digits); err != nil {
		return "", "", err
	}
	items := strings.Split(rng, ",")
	for i, item := range items {
		bounds := strings.Split(item, "-")
		for j := range bounds {
			bounds[j] += digits
		}
		items[i] = strings.Join(bounds, "-")
		if len(bounds) > 1 {
			items[i] += "/1" + strings.Repeat("0", n)
		}
	}
	return sfx[n:], strings.Join(items, ","), nil
}

// amendLeading moves the digits that precede a bracket into it, as
// ClusterShell does: "prod-2[10-320]" is "prod-[210-2320]".
func amendLeading(pfx, rng string) (string, string, error) {
	n := len(pfx)
	for n > 0 && pfx[n-1] >= '0' && pfx[n-1] <= '9' {
		n--
	}
	if n == len(pfx) {
		return pfx, rng, nil
	}
	digits := pfx[n:]
	indexes, err := shiftable(rng, digits+"["+rng+"]")
	if err != nil {
		return "", "", err
	}
	items := runs(indexes)
	for i, r := range items {
		lo, hi, isRange := strings.Cut(r, "-")
		items[i] = digits + lo
		if isRange {
			items[i] += "-" + digits + hi
		}
	}
	return pfx[:n], strings.Join(items, ","), nil
}

// shiftable parses rng and refuses, before digits join a bracket, what ClusterShell's
// text rewriting would turn into other names: empty brackets or items ("n[]5"
// is n5 there) and negative numbers ("n[-3]0" gives n0 … n30 there).
func shiftable(rng, where string) ([]string, error) {
	indexes, err := parseRangeSet(rng)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(indexes, compareIndex)
	if strings.HasPrefix(indexes[0], "-") {
		return nil, fmt.Errorf("%q: digits next to a bracket cannot join negative numbers", where)
	}
	return indexes, nil
}

// splitName cuts a name into its text parts and its numbers (runs of ASCII
// digits): "r1n01" gives ["r" "n" ""] and ["1" "01"].
func splitName(s string) (parts, idx []string) {
	parts = []string{""}
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j > i {
			idx = append(idx, s[i:j])
			parts = append(parts, "")
			i = j
			continue
		}
		for j < len(s) && (s[j] < '0' || s[j] > '9') {
			j++
		}
		parts[len(parts)-1] += s[i:j]
		i = j
	}
	return parts, idx
}
