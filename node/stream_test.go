package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
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

// frozenChannel is a child's SSH channel to a host whose network froze: a
// write waits for the channel's window, and neither the channel's close nor
// anything but the close of the whole connection ends the wait.
type frozenChannel struct {
	cut  chan struct{}
	once sync.Once
	cuts atomic.Int32
}

func (f *frozenChannel) Write(b []byte) (int, error) {
	<-f.cut
	return 0, io.EOF
}
func (f *frozenChannel) Read([]byte) (int, error) {
	<-f.cut
	return 0, io.EOF
}
func (f *frozenChannel) Close() error { return nil }
func (f *frozenChannel) CloseConn() error {
	f.cuts.Add(1)
	f.once.Do(func() { close(f.cut) })
	return nil
}

// A frozen child is failed by the stall watchdog, which closes the SSH
// connection under its stream when closing the stream does not free the
// blocked write: without it the broadcast waited for its sender forever.
func TestWriteSinkCutsFrozenConnection(t *testing.T) {
	t.Parallel()
	ch := make(chan *chunk, 1)
	pool := newChunkPool()
	c, _ := pool.get(context.Background())
	c.buf = append(c.buf[:0], phase("x")...)
	c.refs.Store(1)
	ch <- c
	close(ch)
	fc := &frozenChannel{cut: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- writeSink(ch, fc, 40*time.Millisecond) }()
	select {
	case err := <-done:
		if !errors.Is(err, errStalled) || !strings.Contains(err.Error(), "no progress for 40ms") {
			t.Fatalf("writeSink: %v; want %q", err, "no progress for 40ms")
		}
	case <-time.After(5 * time.Second):
		fc.CloseConn() // ends the test's goroutine
		t.Fatal("writeSink still blocked 5s after a 40ms stall: the connection was never closed")
	}
	if n := fc.cuts.Load(); n != 1 {
		t.Fatalf("connection closed %d times; want 1", n)
	}
}

// slowChannel answers the stream's close, as a live host does: the close
// ends the blocked write, and the connection, shared with other work, stays.
type slowChannel struct {
	frozenChannel
}

func (s *slowChannel) Close() error { s.once.Do(func() { close(s.cut) }); return nil }
func (s *slowChannel) CloseConn() error {
	s.cuts.Add(1)
	return nil
}

func TestWriteSinkKeepsLiveConnection(t *testing.T) {
	t.Parallel()
	ch := make(chan *chunk, 1)
	pool := newChunkPool()
	c, _ := pool.get(context.Background())
	c.buf = append(c.buf[:0], phase("x")...)
	c.refs.Store(1)
	ch <- c
	close(ch)
	sc := &slowChannel{frozenChannel{cut: make(chan struct{})}}
	if err := writeSink(ch, sc, 40*time.Millisecond); !errors.Is(err, errStalled) {
		t.Fatalf("writeSink: %v; want %v", err, errStalled)
	}
	time.Sleep(40 * time.Millisecond) // past the grace a cut would wait
	if n := sc.cuts.Load(); n != 0 {
		t.Fatalf("connection closed %d times; want 0: its host answered the stream's close", n)
	}
}
