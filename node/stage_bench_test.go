package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkStageSmallFiles times a broadcast of many small files into an
// empty destination on one host, phase by phase (the bench's tree: 4
// directories of files of about 100 bytes): the root's scan and manifest, the
// host's claim and comparison, the root's reading of the contents, the host's
// writing of them and its commit; the disk side of issue 17's many small
// files, without the network.
func BenchmarkStageSmallFiles(b *testing.B) {
	const files = 20000
	src := b.TempDir()
	for i := range files {
		p := filepath.Join(src, fmt.Sprintf("lib/mod%d/part%02d.bin", i%4, i))
		if i < 4 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, 50+i%3*50), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var scan, plan, send, recv, commit time.Duration
	for b.Loop() {
		t0 := time.Now()
		list, enc := encodeSource(b, src, false)
		b.StopTimer()
		to := filepath.Join(b.TempDir(), "app")
		b.StartTimer()
		t1 := time.Now()
		token := strings.Repeat("a", 16)
		c, err := claimHome(to, false, "", token, "bench")
		if err != nil {
			b.Fatal(err)
		}
		st, err := newStage(c, nil, true)
		if err != nil {
			b.Fatal(err)
		}
		m2, err := readManifest(bytes.NewReader(enc), false)
		if err != nil {
			b.Fatal(err)
		}
		v, err := st.plan(m2)
		if err != nil {
			b.Fatal(err)
		}
		wanted := make([]bool, len(list))
		if err := addNeeds(list, wanted, v.ranges(needContent), v.checks, map[int]string{}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		var buf bytes.Buffer
		if err := writeContents(&buf, list, wanted); err != nil {
			b.Fatal(err)
		}
		t2b := time.Now()
		if err := st.receive(&buf); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if err := st.commit(context.Background()); err != nil {
			b.Fatal(err)
		}
		c.release(true)
		t4 := time.Now()
		scan, plan, send = scan+t1.Sub(t0), plan+t2.Sub(t1), send+t2b.Sub(t2)
		recv, commit = recv+t3.Sub(t2b), commit+t4.Sub(t3)
	}
	n := float64(b.N)
	b.ReportMetric(scan.Seconds()/n, "scan-s")
	b.ReportMetric(plan.Seconds()/n, "plan-s")
	b.ReportMetric(send.Seconds()/n, "send-s")
	b.ReportMetric(recv.Seconds()/n, "receive-s")
	b.ReportMetric(commit.Seconds()/n, "commit-s")
}
