package core

import (
	"fmt"
	"strings"
	"testing"

	"github.com/grifork/grifork/redact"
)

func TestGather(t *testing.T) {
	t.Parallel()
	var out, tee strings.Builder
	p := NewPrinter(&out, redact.New("s3cret"))
	p.Tee(&tee)
	p.Gather()
	var order []string
	for i := 1; i <= 24; i++ {
		h := fmt.Sprintf("web%02d", i)
		order = append(order, h)
		switch {
		case i == 7:
			p.Line(h, "Linux 6.1")
			p.Line(h, "disk s3cret full")
		case i > 20:
			p.Line(h, "Linux 5.10")
		default:
			p.Line(h, "Linux 6.1")
		}
	}
	p.Relay("db1 | relayed from grifork mode")
	p.Relay("not a host line")
	p.Line("", "plain")
	if got, want := out.String(), "not a host line\nplain\n"; got != want {
		t.Errorf("written at once: %q, want %q", got, want)
	}
	if !strings.Contains(tee.String(), "web07 | disk [REDACTED] full\n") {
		t.Errorf("tee lacks the gathered line:\n%s", tee.String())
	}
	out.Reset()
	if err := p.WriteGathered(&out, append(order, "db1")); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "gather/groups.txt", out.String())
}
