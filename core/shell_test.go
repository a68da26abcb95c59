package core

import (
	"os/exec"
	"strings"
	"testing"
)

func TestShellQuote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"", "''"},
		{"abc", "abc"},
		{"-_./=:,+@%AZaz09", "-_./=:,+@%AZaz09"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"'", `''\'''`},
		{"''x''", `''\'''\''x'\'''\'''`},
		{"é", "'é'"},
		{"$(touch x)", "'$(touch x)'"},
		{"a\nb", "'a\nb'"},
	}
	for _, tt := range tests {
		if got := ShellQuote(tt.in); got != tt.want {
			t.Errorf("ShellQuote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestShellJoinRoundTrip has a shell split ShellJoin's line back into the words.
func TestShellJoinRoundTrip(t *testing.T) {
	t.Parallel()
	words := []string{"rsync", "", "--rsh=ssh -o 'A=b c'", "it's", "'", "é", "$HOME", "a\tb", "-_./=:,+@%"}
	line := ShellJoin(words)
	out, err := exec.Command("/bin/sh", "-c", `for w in `+line+`; do printf '%s\0' "$w"; done`).Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if strings.Join(got, "|") != strings.Join(words, "|") || len(got) != len(words) {
		t.Errorf("ShellJoin(%q) = %q, which sh splits into %q", words, line, got)
	}
}
