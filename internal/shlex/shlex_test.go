package shlex

import (
	"slices"
	"testing"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in       string
		comments bool
		want     []string
		err      bool
	}{
		{in: "a b\tc\nd", want: []string{"a", "b", "c", "d"}},
		{in: `'a b' "c \"d\"" e\ f`, want: []string{"a b", `c "d"`, "e f"}},
		{in: `'a\b'`, want: []string{`a\b`}},
		{in: `x""`, want: []string{"x"}},
		{in: `""`, want: []string{""}},
		{in: "a #b c", comments: true, want: []string{"a"}},
		{in: "a#b c", comments: true, want: []string{"a#b", "c"}},
		{in: "a #b", want: []string{"a", "#b"}},
		{in: `"open`, err: true},
	} {
		got, err := Split(tc.in, tc.comments)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("Split(%q, %v) = %q, %v; want %q (error %v)", tc.in, tc.comments, got, err, tc.want, tc.err)
		}
	}
}
