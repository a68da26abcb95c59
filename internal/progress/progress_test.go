package progress

import (
	"bytes"
	"testing"

	"github.com/grifork/grifork/core"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		t          core.Totals
		gen, depth int
		want       string
	}{
		{core.Totals{Hosts: 13, Pending: 13}, 1, 3, "generation 1/3  0 ok  0 failed  0 skipped  13 pending"},
		{core.Totals{Hosts: 13, OK: 3, Failed: 1, Skipped: 3, Pending: 6}, 2, 3, "generation 2/3  3 ok  1 failed  3 skipped  6 pending"},
		{core.Totals{Hosts: 13, OK: 13}, 0, 3, "generation 3/3  13 ok  0 failed  0 skipped  0 pending"},
	}
	for _, tt := range tests {
		if got := Status(tt.t, tt.gen, tt.depth); got != tt.want {
			t.Errorf("Status() = %q, want %q", got, tt.want)
		}
	}
}

func TestEnabled(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	for mode, want := range map[string]bool{Auto: false, Always: true, Never: false} {
		if got := Enabled(mode, &b); got != want {
			t.Errorf("Enabled(%s, buffer) = %v, want %v", mode, got, want)
		}
	}
}
