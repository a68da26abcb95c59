package gentime

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

func TestOf(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	tests := []struct {
		name    string
		results []core.Result
		want    []Gen
	}{
		{name: "empty"},
		{
			name: "two generations, one host never started",
			results: []core.Result{
				{NodeID: "a", Level: 1, Start: at(0), Duration: sec(2)},
				{NodeID: "b", Level: 1, Start: at(0.5), Duration: sec(1)},
				{NodeID: "c", Level: 2, Start: at(3), Duration: sec(4)},
				{NodeID: "d", Level: 2, Start: at(2), Duration: sec(1)},
				{NodeID: "e", Level: 2, Status: core.StatusSkipped},
			},
			want: []Gen{
				{Level: 1, Hosts: 2, First: 0, Last: sec(2), Sum: sec(3), Max: sec(2)},
				{Level: 2, Hosts: 2, First: sec(2), Last: sec(7), Sum: sec(5), Max: sec(4)},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := report(t, t0, tc.results)
			got := Of(r)
			if len(got) != len(tc.want) {
				t.Fatalf("Of = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("generation %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// report writes a report as `--report` does and reads it back with Read.
func report(t *testing.T, start time.Time, results []core.Result) *core.Report {
	t.Helper()
	b, err := json.Marshal(map[string]any{"mode": "grifork", "start": start, "results": results})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestWrite(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	gens := []Gen{
		{Level: 1, Hosts: 4, First: 0, Last: 1880 * time.Millisecond, Sum: 6300 * time.Millisecond, Max: 1880 * time.Millisecond},
		{Level: 2, Hosts: 16, First: 5850 * time.Millisecond, Last: 15820 * time.Millisecond, Sum: 87900 * time.Millisecond, Max: 7980 * time.Millisecond},
	}
	if err := Write(&buf, gens); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "write.golden")
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("Write printed\n%s\nwant\n%s", buf.String(), want)
	}
}
