package core

import (
	"bytes"
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
	if got := out.String(); got != "web1 | one\nweb1 | two pass=[REDACTED]\nweb1 | \n" {
		t.Errorf("before Close: %q", got)
	}
	w.Close()
	w.Close() // nothing left: no second last line
	want := "web1 | one\nweb1 | two pass=[REDACTED]\nweb1 | \nweb1 | last\n"
	if out.String() != want || tee.String() != want {
		t.Errorf("after Close: %q, tee %q; want %q", out.String(), tee.String(), want)
	}
}
