package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The broadcast stream, as it flows from the root down every edge: two
// phases, the manifest and then the contents some host needs (manifest.go),
// each as frames of a 4-byte big-endian payload length and the payload, ended
// by a frame of length 0 followed by the SHA-256 of that phase's payloads. A relay forwards the frames it receives byte for byte, so every
// node checks the root's checksum against what reached it.
const (
	frameHeader  = 4
	framePayload = 128 << 10 // small, so each hop adds little delay to the pipeline
	// poolChunks bounds a process's buffers: a relay's memory does not grow
	// with the data, and a full pool is the backpressure of a slow child.
	poolChunks = 64
)

// chunk is one frame in flight, shared by every sink it is sent to.
type chunk struct {
	buf  []byte // header and payload
	last bool   // the trailer
	refs atomic.Int32
	pool chan *chunk
	// sent, when set, is told the payload's length once every sink has
	// written the chunk (or dropped it): what has left this process.
	sent func(int64)
}

func (c *chunk) payload() []byte {
	if c.last {
		return nil
	}
	return c.buf[frameHeader:]
}

func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		if c.sent != nil {
			c.sent(int64(len(c.payload())))
		}
		c.buf = c.buf[:0]
		c.last = false
		c.pool <- c
	}
}

type chunkPool chan *chunk

func newChunkPool() chunkPool {
	p := make(chunkPool, poolChunks)
	for range poolChunks {
		p <- &chunk{buf: make([]byte, 0, frameHeader+framePayload), pool: p}
	}
	return p
}

func (p chunkPool) get(ctx context.Context) (*chunk, error) {
	select {
	case c := <-p:
		return c, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// fanout hands every chunk to each of its sinks, in order. A sink's channel
// holds as many chunks as the pool, so send never blocks: the pool does.
type fanout struct {
	sinks []chan *chunk
}

func newFanout(n int) *fanout {
	f := &fanout{sinks: make([]chan *chunk, n)}
	for i := range f.sinks {
		f.sinks[i] = make(chan *chunk, poolChunks)
	}
	return f
}

func (f *fanout) send(c *chunk) {
	if len(f.sinks) == 0 {
		c.refs.Store(1)
		c.release()
		return
	}
	c.refs.Store(int32(len(f.sinks)))
	for _, s := range f.sinks {
		s <- c
	}
}

func (f *fanout) close() {
	for _, s := range f.sinks {
		close(s)
	}
}

// drain releases what is left in ch, so a failed sink never holds the others up.
func drain(ch <-chan *chunk) {
	for c := range ch {
		c.release()
	}
}

// errStalled is a stream that made no progress for the stall timeout.
var errStalled = errors.New("no progress")

// watchdog closes c when an operation it guards (between arm and disarm)
// takes longer than d.
type watchdog struct {
	d     time.Duration
	c     io.Closer
	fired atomic.Bool
	t     *time.Timer

	// With conn set, the connection c runs over is closed too if the guarded
	// operation has not returned grace after c's close (see connCloser).
	conn  connCloser
	grace time.Duration
	mu    sync.Mutex
	ended bool        // end was called: the operation returned
	cut   *time.Timer // closes conn; set once fired
}

// connCloser is a child's stream over an SSH channel (sshx's DialUnix) that
// can also close the SSH connection under it. Closing the channel alone does
// not unblock a write waiting for the channel's window until the peer answers,
// which a frozen host never does.
type connCloser interface{ CloseConn() error }

func newWatchdog(d time.Duration, c io.Closer) *watchdog {
	w := &watchdog{d: d, c: c}
	w.t = time.AfterFunc(d, w.fire)
	w.t.Stop()
	return w
}

func (w *watchdog) fire() {
	w.fired.Store(true)
	// The cut is scheduled before c.Close, which may itself block on a
	// frozen connection (its close message waits for the TCP send buffer).
	w.mu.Lock()
	if w.conn != nil && !w.ended && w.cut == nil {
		w.cut = time.AfterFunc(w.grace, func() { w.conn.CloseConn() })
	}
	w.mu.Unlock()
	w.c.Close()
}

// end says the guarded stream is done with: a cut not yet made is not needed.
func (w *watchdog) end() {
	w.t.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ended = true
	if w.cut != nil {
		w.cut.Stop()
	}
}

// arm starts (or restarts) the countdown: progress was made.
func (w *watchdog) arm() { w.t.Reset(w.d) }

// armFor starts a countdown of d, once (a phase whose first frame may be late).
func (w *watchdog) armFor(d time.Duration) { w.t.Reset(d) }

// disarm stops the countdown.
func (w *watchdog) disarm() { w.t.Stop() }

// err turns the result of a guarded operation into errStalled when the
// watchdog fired: also a success, such as the EOF that ends awaitClose's wait
// once the watchdog closed the stream, since the stream was cut.
func (w *watchdog) err(err error) error {
	if w.fired.Load() {
		return fmt.Errorf("%w for %s", errStalled, w.d)
	}
	return err
}

// window is how many frames a sender has on their way to a child before the
// child's relay has read them: a relay acknowledges every frame it reads with
// one byte back on the stream. Without it a sender fills the SSH channel's
// window (2 MiB in OpenSSH) whenever the child is slower, and the child's
// sshd, whose channel buffer then grows 32 KiB at a time and is copied whole
// into fresh memory at each growth (OpenSSH 9.2's sshbuf), spent more CPU on
// those copies and their page faults than on decrypting (docs/internals.md).
const window = 4

// flow counts a child's acknowledgements: acquire waits until fewer than
// window frames are unacknowledged.
type flow struct {
	slots chan struct{}
	done  chan struct{} // closed when the child's end is read to its end
	err   error         // why: io.EOF when the child closed its end
}

func startFlow(r io.Reader) *flow {
	f := &flow{slots: make(chan struct{}, window), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		buf := make([]byte, 64)
		for {
			n, err := r.Read(buf)
			for range n {
				select {
				case <-f.slots:
				default: // more acknowledgements than frames: nothing to free
				}
			}
			if err != nil {
				f.err = err
				return
			}
		}
	}()
	return f
}

// acquire takes a slot for one frame, or says why the child will take no more.
func (f *flow) acquire() error {
	select {
	case f.slots <- struct{}{}:
		return nil
	case <-f.done:
		if errors.Is(f.err, io.EOF) {
			return errors.New("the child closed its stream before its end")
		}
		return f.err
	}
}

// writeSink writes every chunk of ch to w (a child's stream) and closes w at
// the end; after the first error it only releases chunks. A write, or a wait
// for the child's acknowledgement, that makes no progress for stall fails the
// sink. When the stall's close of w does not end the wait within a quarter
// of stall (a frozen host), the SSH connection under w, if any, is closed.
func writeSink(ch <-chan *chunk, w io.WriteCloser, stall time.Duration) error {
	wd := newWatchdog(stall, w)
	if cc, ok := w.(connCloser); ok {
		wd.conn, wd.grace = cc, stall/4
	}
	defer wd.end()
	var f *flow
	if r, ok := w.(io.Reader); ok {
		f = startFlow(r)
	}
	var err error
	for c := range ch {
		if err == nil {
			wd.arm()
			if f != nil {
				err = f.acquire()
			}
			if err == nil {
				_, err = w.Write(c.buf)
			}
			wd.disarm()
			err = wd.err(err)
		}
		c.release()
	}
	if err == nil && f != nil {
		err = awaitClose(w, wd, f)
	}
	w.Close()
	if f != nil {
		<-f.done // its read ends with w closed
	}
	return err
}

// awaitClose ends the stream to a child and waits until the child has closed
// its end, which it does once it has read the trailer: closing first could
// lose the stream's tail (a TCP reset discards what the peer has not read).
func awaitClose(w io.Writer, wd *watchdog, f *flow) error {
	cw, ok := w.(interface{ CloseWrite() error })
	if !ok {
		return nil
	}
	wd.arm()
	defer wd.disarm()
	if err := cw.CloseWrite(); err != nil {
		return wd.err(err)
	}
	<-f.done
	err := f.err
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return wd.err(err)
}

// readFrames reads the stream from r into chunks of pool and sends them to f
// until the trailer, which it also sends, acknowledging each frame on ack
// (see window) unless ack is nil. A read that makes no progress for stall
// fails with errStalled; the first may wait first when that is longer.
func readFrames(ctx context.Context, r io.ReadCloser, ack io.Writer, pool chunkPool, f *fanout, stall, first time.Duration) (int64, error) {
	wd := newWatchdog(stall, r)
	defer wd.disarm()
	var total int64
	for {
		// Waiting for a free chunk is waiting for a slow child or disk, not for r.
		wd.disarm()
		c, err := pool.get(ctx)
		if err != nil {
			return total, err
		}
		c.buf = c.buf[:frameHeader]
		if total == 0 && first > stall {
			wd.armFor(first)
		} else {
			wd.arm()
		}
		if err := readFull(r, c.buf, wd); err != nil {
			c.refs.Store(1)
			c.release()
			return total, truncated(err) // readFull asked the watchdog already
		}
		n := int(binary.BigEndian.Uint32(c.buf))
		if n > framePayload {
			c.refs.Store(1)
			c.release()
			return total, fmt.Errorf("stream is corrupt: a frame of %d bytes", n)
		}
		if n == 0 {
			c.last = true
			n = sha256.Size
		}
		c.buf = c.buf[:frameHeader+n]
		if err := readFull(r, c.buf[frameHeader:], wd); err != nil {
			c.refs.Store(1)
			c.release()
			return total, truncated(err)
		}
		total += int64(len(c.buf))
		if ack != nil {
			// A failed write is a broken stream, which the next read reports;
			// after the trailer, the whole stream is here anyway.
			ack.Write(ackByte)
		}
		// Once sent, c is the sinks': the last to release it resets it for the
		// pool, maybe before send returns, so its last flag is read before.
		last := c.last
		f.send(c)
		if last {
			return total, nil
		}
	}
}

var ackByte = []byte{1}

// readFull is io.ReadFull that kicks wd on every read.
func readFull(r io.Reader, b []byte, wd *watchdog) error {
	for len(b) > 0 {
		n, err := r.Read(b)
		b = b[n:]
		if n > 0 {
			wd.arm()
		}
		if err != nil {
			if len(b) == 0 {
				return nil
			}
			return wd.err(err)
		}
	}
	return nil
}

// errTruncated is a stream that ended before its trailer.
var errTruncated = errors.New("the stream ended before its end")

// A reset is a truncated stream too: a direct stream's parent killed with
// bytes unread in its socket resets the connection rather than ending it.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return errTruncated
	}
	return err
}

// chunkReader reads the payloads of the chunks of ch, hashing them, and
// releases each chunk once read; Trailer is the checksum the stream ended with.
type chunkReader struct {
	ch      <-chan *chunk
	cur     *chunk
	off     int
	h       hash.Hash
	trailer []byte
	// corrupt flips a byte of what this node writes (a test hook: the node's
	// own copy must then fail its check).
	corrupt bool
	read    int64
}

// corruptAt is where the test hook flips a byte: past the first megabytes.
const corruptAt = 4 << 20

func newChunkReader(ch <-chan *chunk) *chunkReader {
	return &chunkReader{ch: ch, h: sha256.New()}
}

func (r *chunkReader) Read(b []byte) (int, error) {
	for r.cur == nil || r.off == len(r.cur.payload()) {
		if r.cur != nil {
			r.cur.release()
			r.cur = nil
		}
		if r.trailer != nil {
			return 0, io.EOF
		}
		c, ok := <-r.ch
		if !ok {
			return 0, errTruncated
		}
		if c.last {
			r.trailer = append([]byte(nil), c.buf[frameHeader:]...)
			c.release()
			return 0, io.EOF
		}
		r.cur, r.off = c, 0
	}
	n := copy(b, r.cur.payload()[r.off:])
	if r.corrupt && n > 0 && r.read+int64(n) > corruptAt {
		// Deep in the stream, to hit file data rather than an index; the
		// checksum is of what this node writes, so the check must catch it.
		b[n-1] ^= 0xff
		r.corrupt = false
	}
	r.h.Write(b[:n])
	r.off += n
	r.read += int64(n)
	return n, nil
}

// close releases what the reader holds and what is still to come.
func (r *chunkReader) close() {
	if r.cur != nil {
		r.cur.release()
		r.cur = nil
	}
	drain(r.ch)
}

// verified reports whether the stream reached its trailer and matches it.
func (r *chunkReader) verified() error {
	if r.trailer == nil {
		return errTruncated
	}
	if sum := r.h.Sum(nil); string(sum) != string(r.trailer) {
		return fmt.Errorf("SHA-256 mismatch: received %x, the root sent %x", sum, r.trailer)
	}
	return nil
}

// framer cuts what is written to it into frames of pool's chunks for f, and
// sums the payload; Close sends the trailer.
type framer struct {
	ctx  context.Context
	pool chunkPool
	f    *fanout
	cur  *chunk
	h    hash.Hash
	n    int64 // payload bytes
	// sent, when set, counts the payload as every sink has written it, not
	// as it is written here: the pool holds 8 MiB that have not left yet.
	sent func(int64)
}

func newFramer(ctx context.Context, pool chunkPool, f *fanout) *framer {
	return &framer{ctx: ctx, pool: pool, f: f, h: sha256.New()}
}

func (w *framer) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		if w.cur == nil {
			c, err := w.pool.get(w.ctx)
			if err != nil {
				return written, err
			}
			c.buf = c.buf[:frameHeader]
			c.sent = w.sent // nil too: the chunk may come from another framer
			w.cur = c
		}
		n := min(len(b), frameHeader+framePayload-len(w.cur.buf))
		w.cur.buf = append(w.cur.buf, b[:n]...)
		w.h.Write(b[:n])
		b, written, w.n = b[n:], written+n, w.n+int64(n)
		if len(w.cur.buf) == frameHeader+framePayload {
			w.flush()
		}
	}
	return written, nil
}

func (w *framer) flush() {
	if w.cur == nil || len(w.cur.buf) == frameHeader {
		return
	}
	binary.BigEndian.PutUint32(w.cur.buf, uint32(len(w.cur.buf)-frameHeader))
	w.f.send(w.cur)
	w.cur = nil
}

// Close sends the last frame and the trailer.
func (w *framer) Close() error {
	w.flush()
	c, err := w.pool.get(w.ctx)
	if err != nil {
		return err
	}
	c.buf = append(c.buf[:0], 0, 0, 0, 0)
	c.buf = w.h.Sum(c.buf)
	c.last = true
	w.f.send(c)
	return nil
}
