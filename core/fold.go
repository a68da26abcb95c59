package core

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Fold writes names as a folded node set, the inverse of the node-set expansion
// of the hosts directive: "web01", "web02", "web03", "web05" give
// "web[01-03,05]". Names that differ only in their last number share one bracket
// group; zero-padded numbers keep their width. The result is sorted and holds
// each name once.
func Fold(names []string) string {
	type group struct {
		prefix, suffix string
		width          int // digits of padded numbers; 0 for unpadded
		nums           []int
	}
	groups := map[string]*group{}
	var plain []string
	add := func(prefix, suffix string, width, n int) {
		key := prefix + "\x00" + suffix + "\x00" + strconv.Itoa(width)
		g := groups[key]
		if g == nil {
			g = &group{prefix: prefix, suffix: suffix, width: width}
			groups[key] = g
		}
		g.nums = append(g.nums, n)
	}
	type unpadded struct {
		prefix, digits, suffix string
		n                      int
	}
	var later []unpadded
	for _, name := range names {
		prefix, digits, suffix := lastNumber(name)
		n, err := strconv.Atoi(digits)
		switch {
		case digits == "" || err != nil:
			plain = append(plain, name)
		case len(digits) > 1 && digits[0] == '0':
			add(prefix, suffix, len(digits), n)
		default:
			later = append(later, unpadded{prefix, digits, suffix, n})
		}
	}
	// An unpadded number as wide as a padded group of the same name joins it
	// ("web10" with "web01"): that is how the expansion of web[01-10] writes it.
	for _, u := range later {
		w := 0
		if _, ok := groups[u.prefix+"\x00"+u.suffix+"\x00"+strconv.Itoa(len(u.digits))]; ok {
			w = len(u.digits)
		}
		add(u.prefix, u.suffix, w, u.n)
	}

	type part struct{ sortKey, text string }
	var parts []part
	for _, name := range plain {
		parts = append(parts, part{name, name})
	}
	for _, g := range groups {
		slices.Sort(g.nums)
		g.nums = slices.Compact(g.nums)
		num := func(n int) string { return fmt.Sprintf("%0*d", g.width, n) }
		key := g.prefix + "\x00" + g.suffix + "\x00" + fmt.Sprintf("%020d", g.nums[0])
		if len(g.nums) == 1 {
			parts = append(parts, part{key, g.prefix + num(g.nums[0]) + g.suffix})
			continue
		}
		var ranges []string
		for i := 0; i < len(g.nums); {
			j := i
			for j+1 < len(g.nums) && g.nums[j+1] == g.nums[j]+1 {
				j++
			}
			if j == i {
				ranges = append(ranges, num(g.nums[i]))
			} else {
				ranges = append(ranges, num(g.nums[i])+"-"+num(g.nums[j]))
			}
			i = j + 1
		}
		parts = append(parts, part{key, g.prefix + "[" + strings.Join(ranges, ",") + "]" + g.suffix})
	}
	slices.SortFunc(parts, func(a, b part) int { return cmp.Or(cmp.Compare(a.sortKey, b.sortKey), cmp.Compare(a.text, b.text)) })
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		if len(texts) == 0 || texts[len(texts)-1] != p.text {
			texts = append(texts, p.text)
		}
	}
	return strings.Join(texts, ",")
}

// lastNumber splits name around its last run of digits.
func lastNumber(name string) (prefix, digits, suffix string) {
	end := strings.LastIndexAny(name, "0123456789")
	if end < 0 {
		return name, "", ""
	}
	start := end
	for start > 0 && name[start-1] >= '0' && name[start-1] <= '9' {
		start--
	}
	// Past 18 digits a number may not fit an int: keep such names as they are.
	if end+1-start > 18 {
		return name, "", ""
	}
	return name[:start], name[start : end+1], name[end+1:]
}

// Thousands writes n with a comma between groups of three digits (24,999).
func Thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + Thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
