package bench

import (
	"os/exec"
	"strings"
	"testing"
)

// The sampler charges a child's CPU to this benchmark's class, also once the
// child has ended, and prints it in its table.
func TestCPUSamplerCountsAChild(t *testing.T) {
	s := startCPUSampler()
	// About half a second of shell arithmetic, well over the sampling period.
	if out, err := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s.finish()
	got := s.sums()[cpuClasses[3]]
	if got.n < 1 || got.user+got.sys < 10 {
		t.Errorf("%s: %d processes, %d ticks; want the shell's 0.1 s or more", cpuClasses[3], got.n, got.user+got.sys)
	}
	if tab := s.table("a test"); !strings.Contains(tab, cpuClasses[3]) || !strings.Contains(tab, "machine (/proc/stat)") {
		t.Errorf("table lacks a row:\n%s", tab)
	}
}
