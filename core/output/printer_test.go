package output

import (
	"bytes"
	"strings"
	"testing"

	"github.com/grifork/grifork/redact"
)

func TestPrinterWriter(t *testing.T) {
	t.Parallel()
	var out, tee bytes.Buffer
	p := NewPrinter(&out, redact.New("hunter2"))
	p.Tee(&tee)
	w := p.Writer("web1")
	for _, chunk := range []string{"one\r\ntw", "o pass=hunter2\n", "\n", "last"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	// The carriage return is data: only the prefix is added.
	if got := out.String(); got != "web1 | one\r\nweb1 | two pass=[REDACTED]\nweb1 | \n" {
		t.Errorf("before Close: %q", got)
	}
	w.Close()
	w.Close() // nothing left: no second last line
	want := "web1 | one\r\nweb1 | two pass=[REDACTED]\nweb1 | \nweb1 | last\n"
	if out.String() != want || tee.String() != want {
		t.Errorf("after Close: %q, tee %q; want %q", out.String(), tee.String(), want)
	}
}

// unpiece joins the pieces of prefix's lines in out back into the text
// printed, and checks every piece's size.
func unpiece(t *testing.T, out, prefix string) string {
	t.Helper()
	var b strings.Builder
	for i, l := range strings.SplitAfter(out, "\n") {
		if l == "" {
			continue
		}
		text, ok := strings.CutPrefix(l, prefix+ContinueSep)
		if ok {
			if i == 0 {
				t.Fatalf("the first line continues nothing: %.60q", l)
			}
		} else if text, ok = strings.CutPrefix(l, prefix+LineSep); ok && i > 0 {
			b.WriteString("\n")
		}
		if !ok {
			t.Fatalf("line %d has no prefix: %.60q", i, l)
		}
		text = strings.TrimSuffix(text, "\n")
		if len(text) > MaxLine {
			t.Fatalf("a piece of %d bytes, want at most %d", len(text), MaxLine)
		}
		b.WriteString(text)
	}
	return b.String()
}

// A line longer than MaxLine comes out in pieces of at most MaxLine bytes,
// each after the first marked with ContinueSep, as soon as they are there;
// joined, the pieces are the line; no secret is cut in two (and so shown).
func TestPrinterCutsLongLines(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-passw0rd"
	long := strings.Repeat("0123456789abcdef", (3*MaxLine)/16+5) // no newline in it
	// The secret straddles where the first cut would fall.
	withSecret := long[:MaxLine-5] + secret + long[MaxLine-5+len(secret):]
	tests := []struct {
		name   string
		chunks []string // written to the Writer; "" means: through Line
		want   string   // the text, pieces joined; secrets masked
	}{
		{"one line without a newline", []string{long}, long},
		{"written in small chunks", chunkUp(long+"\nshort\r\n"+long, 1000), long + "\nshort\r\n" + long},
		{"a newline just past MaxLine", []string{long[:MaxLine+1] + "\n"}, long[:MaxLine+1]},
		{"exactly MaxLine", []string{long[:MaxLine] + "\nnext"}, long[:MaxLine] + "\nnext"},
		{"a secret across the cut", chunkUp(withSecret, 4096), strings.Replace(withSecret, secret, redact.Mask, 1)},
		{"Line", []string{"", withSecret}, strings.Replace(withSecret, secret, redact.Mask, 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			p := NewPrinter(&out, redact.New(secret))
			if tc.chunks[0] == "" {
				p.Line("web1", tc.chunks[1])
			} else {
				w := p.Writer("web1")
				for i, c := range tc.chunks {
					w.Write([]byte(c))
					if i == 0 && len(c) > MaxLine+MaxLine/2 && !strings.Contains(c, "\n") && out.Len() == 0 {
						t.Errorf("nothing printed of a %d-byte line before Close", len(c))
					}
				}
				w.Close()
			}
			got := unpiece(t, out.String(), "web1")
			if got != tc.want {
				t.Errorf("joined pieces differ from the text (%d bytes, want %d)", len(got), len(tc.want))
			}
			if strings.Contains(out.String(), secret[:5]) && strings.Contains(tc.want, redact.Mask) {
				t.Errorf("a part of the secret is shown")
			}
		})
	}
}

func chunkUp(s string, n int) []string {
	var c []string
	for len(s) > n {
		c, s = append(c, s[:n]), s[n:]
	}
	return append(c, s)
}
