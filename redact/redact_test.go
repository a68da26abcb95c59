package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"none", nil, "pw hunter2", "pw hunter2"},
		{"empty secret ignored", []string{""}, "abc", "abc"},
		{"every occurrence", []string{"hunter2"}, "hunter2 and hunter2", "[REDACTED] and [REDACTED]"},
		{"two secrets", []string{"pw1", "phrase"}, "u:pw1 k:phrase", "u:[REDACTED] k:[REDACTED]"},
		// The longer one first, whatever the order given: no remainder leaks.
		{"one inside another", []string{"abc", "abcdef"}, "x abcdef y", "x [REDACTED] y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := New(tc.secrets...).String(tc.in); got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := New("hunter2").Writer(&buf)
	if n, err := w.Write([]byte("pass=hunter2\n")); n != len("pass=hunter2\n") || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if got := buf.String(); got != "pass=[REDACTED]\n" {
		t.Errorf("got %q", got)
	}
	var nilR *Redactor
	if w := nilR.Writer(&buf); w != &buf {
		t.Error("a nil Redactor must return the writer itself")
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(New("hunter2").Handler(slog.NewJSONHandler(&buf, nil)))
	log = log.With("login", "ops:hunter2")
	log.Info("password hunter2 refused",
		"err", errors.New("auth hunter2 failed"),
		"attempts", 3,
		"took", 1500*time.Millisecond,
		slog.Group("ssh", "password", "hunter2"))
	out := buf.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("a secret reached the log: %s", out)
	}
	for _, want := range []string{
		`"msg":"password [REDACTED] refused"`,
		`"login":"ops:[REDACTED]"`,
		`"err":"auth [REDACTED] failed"`,
		`"attempts":3`,      // numbers stay numbers
		`"took":1500000000`, // durations too
		`"ssh":{"password":"[REDACTED]"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
}

// Cut moves a cut back to the start of any secret that spans it, so that the
// two sides redacted on their own show no part of a secret.
func TestCut(t *testing.T) {
	t.Parallel()
	r := New("hunter2", "pw", "ter2xyz")
	for _, tc := range []struct {
		name string
		r    *Redactor
		s    string
		n    int
		want int
	}{
		{"no secret near", r, "aaaaaaaaaaaaaaaaaaaa", 10, 10},
		{"a secret across", r, "aaaaaaahunter2aaaaaa", 10, 7},
		{"a secret just before", r, "aaahunter2aaaaaaaaaa", 10, 10},
		{"a secret just after", r, "aaaaaaaaaahunter2aaa", 10, 10},
		{"overlapping secrets move it twice", r, "aaaahunter2xyzaaaaaa", 12, 4},
		{"a secret at the start stays cut", r, "hunter2aaa", 3, 3},
		{"the end of the text", r, "aaaaaaaahun", 10, 10},
		{"no secrets", nil, "aaaaaaahunter2aaaaaa", 10, 10},
	} {
		if got := tc.r.Cut(tc.s, tc.n); got != tc.want {
			t.Errorf("%s: Cut(%q, %d) = %d, want %d", tc.name, tc.s, tc.n, got, tc.want)
		}
		if got := tc.r.Cut(tc.s, tc.n); tc.r != nil && got > 0 && got < len(tc.s) {
			if joined := tc.r.String(tc.s[:got]) + tc.r.String(tc.s[got:]); joined != tc.r.String(tc.s) && tc.name != "a secret at the start stays cut" {
				t.Errorf("%s: redacted apart %q, whole %q", tc.name, joined, tc.r.String(tc.s))
			}
		}
	}
	if got := r.Lookahead(); got != len("hunter2")-1 {
		t.Errorf("Lookahead() = %d", got)
	}
}
