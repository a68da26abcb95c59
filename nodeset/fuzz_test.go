package nodeset

import (
	"slices"
	"strings"
	"testing"
)

// FuzzNodeSet: parsing never panics, every error is one non-empty line, an
// expansion stays within Limit with each name once, and folding it expands
// back to the same names in the same order.
func FuzzNodeSet(f *testing.F) {
	for _, s := range []string{
		"web[01-40,42]", "prod-2[10-320]", "r[1-2]n[1-3],r3n1", "n[1-10/2]", "n[-5-5]",
		"a[0-2]b[2-3]c[4-6],a[0-1]b[1-3]c[4-5]", "x22[0-1]0y03[0-1]0-ipmi", "0[07-09,010]",
		" t [1-5] & t [0,2,4] ! t [2-3] ^ t [3-5], t 1 ", "n[1-044]", "xa[[zer[1-30]p[4-9]",
		"deploy@web[1-2]:2222", "n%s[1-2]", "n1,n01,n001", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := Expand(s)
		if err != nil {
			if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("Expand(%q): error %q is not one line", s, msg)
			}
			return
		}
		if len(names) > Limit {
			t.Fatalf("Expand(%q): %d names, more than %d", s, len(names), Limit)
		}
		seen := make(map[string]bool, len(names))
		for _, n := range names {
			if seen[n] {
				t.Fatalf("Expand(%q): %q twice", s, n)
			}
			seen[n] = true
		}
		folded := Fold(names)
		again, err := Expand(folded)
		if err != nil {
			t.Fatalf("Expand(%q) = %d names, Fold = %q, which does not expand: %v", s, len(names), folded, err)
		}
		if !slices.Equal(again, names) {
			t.Fatalf("Expand(%q) = %q, Fold = %q, which expands to %q", s, names, folded, again)
		}
	})
}
