package core

import (
	"fmt"
	"testing"
)

func TestFold(t *testing.T) {
	t.Parallel()
	seq := func(format string, from, to int) []string {
		var s []string
		for i := from; i <= to; i++ {
			s = append(s, fmt.Sprintf(format, i))
		}
		return s
	}
	tests := []struct {
		name  string
		names []string
		want  string
	}{
		{"empty", nil, ""},
		{"one", []string{"web1"}, "web1"},
		{"no digits", []string{"db", "app"}, "app,db"},
		{"padded with a gap", append(seq("web%02d", 1, 40), "web42"), "web[01-40,42]"},
		{"padded past its width", seq("web%02d", 8, 11), "web[08-11]"},
		{"unpadded", []string{"n10", "n9", "n11", "n1"}, "n[1,9-11]"},
		{"suffix", []string{"h21.example", "h22.example", "h24.example"}, "h[21-22,24].example"},
		{"last number only", []string{"r1n01", "r1n02", "r2n01"}, "r1n[01-02],r2n01"},
		{"duplicates", []string{"a1", "a1", "a2"}, "a[1-2]"},
		{"addresses", []string{"198.18.0.12", "198.18.0.2", "198.18.0.3"}, "198.18.0.[2-3,12]"},
		{"user and port", []string{"deploy@db1:2222", "deploy@db2:2222"}, "deploy@db1:2222,deploy@db2:2222"},
		{"mixed widths stay apart", []string{"x001", "x01", "x1"}, "x001,x01,x1"},
		{"huge number kept", []string{"h1234567890123456789012"}, "h1234567890123456789012"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Fold(tt.names); got != tt.want {
				t.Errorf("Fold(%v) = %q, want %q", tt.names, got, tt.want)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 24999: "24,999", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
