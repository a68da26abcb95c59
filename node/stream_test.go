package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

// phase is one stream as the root sends it: frames of payloads, then the
// trailer.
func phase(payloads ...string) []byte {
	var b bytes.Buffer
	h := sha256.New()
	for _, p := range payloads {
		binary.Write(&b, binary.BigEndian, uint32(len(p)))
		b.WriteString(p)
		h.Write([]byte(p))
	}
	b.Write([]byte{0, 0, 0, 0})
	b.Write(h.Sum(nil))
	return b.Bytes()
}

// readFrames ends at each phase's trailer, however soon the sinks release it:
// the manifest's readFrames must leave the contents to the next call (which
// waits longer for them). A sink that releases the trailer before send returns
// resets it for the pool; readFrames read its last flag after send and went on
// into the contents, so a relay met the parent's end of stream mid-frame.
func TestReadFramesStopsAtEachTrailer(t *testing.T) {
	t.Parallel()
	manifest, contents := phase("manifest"), phase("some", "contents")
	tests := []struct {
		name  string
		sinks int // 0: send releases every chunk before it returns
	}{
		{"released within send", 0},
		{"released by a sink as it arrives", 1},
		{"released by two sinks", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFanout(tt.sinks)
			var wg sync.WaitGroup
			for _, s := range f.sinks {
				wg.Go(func() { drain(s) })
			}
			defer func() { f.close(); wg.Wait() }()
			pool := newChunkPool()
			r := io.NopCloser(bytes.NewReader(append(append([]byte(nil), manifest...), contents...)))
			for i, want := range [][]byte{manifest, contents} {
				n, err := readFrames(context.Background(), r, nil, pool, f, time.Minute, 0)
				if err != nil || n != int64(len(want)) {
					t.Fatalf("phase %d: read %d bytes, %v; want %d, nil", i, n, err, len(want))
				}
			}
		})
	}
}

// halfCloser is a child's stream that, like an SSH channel, reads EOF once
// the writer closed it.
type halfCloser struct {
	closed chan struct{}
	once   sync.Once
}

func (h *halfCloser) Write(b []byte) (int, error) { return len(b), nil }
func (h *halfCloser) CloseWrite() error           { return nil }
func (h *halfCloser) Close() error                { h.once.Do(func() { close(h.closed) }); return nil }
func (h *halfCloser) Read([]byte) (int, error) {
	<-h.closed
	return 0, io.EOF
}

// A child that does not close its end in time is cut: the sink reports it
// failed, though the cut stream then reads as a clean EOF.
func TestWriteSinkChildNeverCloses(t *testing.T) {
	t.Parallel()
	ch := make(chan *chunk, 1)
	pool := newChunkPool()
	c, _ := pool.get(context.Background())
	c.buf = append(c.buf[:0], phase("x")...)
	c.refs.Store(1)
	ch <- c
	close(ch)
	err := writeSink(ch, &halfCloser{closed: make(chan struct{})}, 20*time.Millisecond)
	if !errors.Is(err, errStalled) {
		t.Fatalf("writeSink: %v; want %v", err, errStalled)
	}
}
