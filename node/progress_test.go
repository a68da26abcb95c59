package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestFramerCountsWhatLeft: the root's progress counts a frame's payload once
// every sink wrote it, not when it was written into the pool (which holds
// 8 MiB: counted there, a 16 MiB broadcast showed half of it sent before a
// byte reached a host); the trailer counts nothing, and a chunk back in the
// pool counts nothing for the next framer (the manifest's).
func TestFramerCountsWhatLeft(t *testing.T) {
	t.Parallel()
	// As many chunks as the stream takes, so the second framer reuses them all.
	pool := make(chunkPool, 5)
	for range cap(pool) {
		pool <- &chunk{buf: make([]byte, 0, frameHeader+framePayload), pool: pool}
	}
	f := newFanout(2)
	var sent atomic.Int64
	w := newFramer(context.Background(), pool, f)
	w.sent = func(n int64) { sent.Add(n) }
	payload := 3*framePayload + 10
	if _, err := w.Write(bytes.Repeat([]byte{'x'}, payload)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.close()
	if n := sent.Load(); n != 0 {
		t.Fatalf("%d bytes counted before a sink wrote any", n)
	}
	drain(f.sinks[0]) // one child took everything, the other nothing yet
	if n := sent.Load(); n != 0 {
		t.Fatalf("%d bytes counted while a sink holds them all", n)
	}
	(<-f.sinks[1]).release()
	if n := sent.Load(); n != framePayload {
		t.Fatalf("after the first frame left: %d bytes counted, want %d", n, framePayload)
	}
	drain(f.sinks[1])
	if n := sent.Load(); n != int64(payload) {
		t.Fatalf("after the stream left: %d bytes counted, want %d", n, payload)
	}

	// The same chunks go to a framer that counts nothing.
	f = newFanout(1)
	m := newFramer(context.Background(), pool, f)
	if _, err := m.Write(bytes.Repeat([]byte{'m'}, 2*framePayload)); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	f.close()
	drain(f.sinks[0])
	if n := sent.Load(); n != int64(payload) {
		t.Fatalf("a framer without a count added %d bytes", n-int64(payload))
	}
}

// TestContentsSize: the total the progress line shows is what writeContents
// writes, with indexes past 127 (two-byte varints) and empty files.
func TestContentsSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := range 300 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), bytes.Repeat([]byte{'a'}, i%7), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	list, _, err := scanSource(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, every := range []int{1, 3, 1000} {
		send := make([]bool, len(list))
		for i := range send {
			send[i] = isFile(list, i) && i%every == 0
		}
		var b bytes.Buffer
		if err := writeContents(&b, list, send); err != nil {
			t.Fatal(err)
		}
		if got := contentsSize(list, send); got != int64(b.Len()) {
			t.Errorf("every %d: contentsSize %d, writeContents wrote %d", every, got, b.Len())
		}
	}
}
