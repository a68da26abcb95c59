package sshx

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/grifork/grifork/core"
	"golang.org/x/crypto/ssh"
)

// conn is the one SSH connection to a user@host:port, shared by every command.
type conn struct {
	client *ssh.Client
	nc     net.Conn      // its byte stream: TCP, a jump host's channel or a ProxyCommand
	sem    chan struct{} // bounds concurrent sessions (sshd's MaxSessions)
	done   chan struct{} // closed when the connection has ended
}

// dialEntry is a connection queued, dialling, open or failed; callers for
// the same key wait on it. The fields after err are guarded by Client.mu.
type dialEntry struct {
	ready chan struct{}
	c     *conn
	err   error

	key      string
	t        target
	via      *conn         // the jump host's connection this one runs over
	viaDone  func()        // gives via back; called once this connection has ended
	refs     int           // callers that hold the connection or wait for it
	slot     bool          // it holds one of the max_connections places (dialling or open)
	live     bool          // open (c is set)
	released bool          // Release: close it once idle
	queued   *list.Element // in Client.queue, waiting for a place
	idle     *list.Element // in Client.idle: open, held by no caller
}

// permanent errors are remembered: redialling cannot fix them.
func permanent(err error) bool {
	return errors.Is(err, ErrAuth) || errors.Is(err, ErrUnknownHostKey) || errors.Is(err, ErrHostKeyChanged) || errors.Is(err, ErrHostKeyRevoked)
}

// conn returns the live connection to t, dialling it if there is none, and the
// func that gives it back (the caller must call it once done with the
// connection: an idle connection may be closed to make room for another). A
// new connection beyond ssh { max_connections } waits, first come first
// served, until one is released or idle. A dial failure other than a permanent
// one is not remembered: the next call dials again.
//
// No caller holds a connection while it waits for another, so the wait always
// ends: every holder gives its connection back when its command ends.
//
// A target behind a jump host takes the jump host's connection (dialling it
// first) before it queues for its own place, and holds it while it lives:
// waiting for a place never happens while holding one that the wait needs.
func (c *Client) conn(ctx context.Context, t target) (*conn, func(), error) {
	key := t.key()
	if hops := t.hops(); hops > 0 && hops >= c.max {
		return nil, nil, fmt.Errorf("host %s: reaching it through %d jump host(s) takes %d connections at once, more than ssh { max_connections = %d }",
			t.display, hops, hops+1, c.max)
	}
	c.mu.Lock()
	e := c.conns[key]
	c.mu.Unlock()
	var via *conn
	var viaDone func()
	if e == nil && t.via != nil {
		var err error
		if via, viaDone, err = c.conn(ctx, *t.via); err != nil {
			return nil, nil, fmt.Errorf("host %s: jump host: %w", t.display, err)
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		if viaDone != nil {
			viaDone()
		}
		return nil, nil, fmt.Errorf("host %s: %w", t.display, errClosed)
	}
	e = c.conns[key]
	switch {
	case e == nil && t.via != nil && via == nil:
		// It was there a moment ago and is gone: start over, with the jump host.
		c.mu.Unlock()
		return c.conn(ctx, t)
	case e == nil:
		e = &dialEntry{ready: make(chan struct{}), key: key, t: t, via: via, viaDone: viaDone}
		c.conns[key] = e
		e.queued = c.queue.PushBack(e)
		c.admit()
	case viaDone != nil:
		defer viaDone() // another caller made it meanwhile
	}
	e.refs++
	if e.idle != nil {
		c.idle.Remove(e.idle)
		e.idle = nil
	}
	c.mu.Unlock()
	var once sync.Once
	done := func() { once.Do(func() { c.unref(e) }) }
	select {
	case <-e.ready:
		if e.err != nil {
			done()
			return nil, nil, e.err
		}
		return e.c, done, nil
	case <-ctx.Done():
		c.mu.Lock()
		waiting := e.queued != nil
		c.mu.Unlock()
		done()
		if waiting {
			return nil, nil, fmt.Errorf("host %s: waiting for a free connection (ssh max_connections = %d): %w", t.display, c.max, ctx.Err())
		}
		return nil, nil, fmt.Errorf("host %s: connecting: %w", t.display, ctx.Err())
	}
}

// admit starts the dials of queued entries in order while there is a place,
// closing the least recently used idle connection for one when all are taken.
// c.mu is held.
func (c *Client) admit() {
	for c.queue.Len() > 0 && !c.closed {
		if c.open >= c.max {
			if c.idle.Len() == 0 {
				return
			}
			c.evict(c.idle.Front().Value.(*dialEntry))
		}
		e := c.queue.Remove(c.queue.Front()).(*dialEntry)
		e.queued = nil
		e.slot = true
		c.open++
		c.peak = max(c.peak, c.open)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.dialEntry(e)
		}()
	}
}

// evict closes e's connection now (its descriptor with it) and frees its
// place; a later call dials again. c.mu is held.
func (c *Client) evict(e *dialEntry) {
	if c.conns[e.key] == e {
		delete(c.conns, e.key)
	}
	e.live = false
	c.unidle(e)
	e.c.client.Close()
	c.free(e)
	c.log.Debug("ssh connection closed: not needed now", "host", e.t.display, "released", e.released)
}

// idled files e, open and held by no caller, as the most recently used idle
// connection (the least recent is closed first), or closes it at once when it
// was released. c.mu is held.
func (c *Client) idled(e *dialEntry) {
	if e.released {
		c.evict(e)
	} else {
		e.idle = c.idle.PushBack(e)
	}
	c.admit()
}

func (c *Client) unidle(e *dialEntry) {
	if e.idle != nil {
		c.idle.Remove(e.idle)
		e.idle = nil
	}
}

// free gives e's place back. c.mu is held; the caller admits.
func (c *Client) free(e *dialEntry) {
	if e.slot {
		e.slot = false
		c.open--
	}
}

// unref gives back a caller's hold on e: a connection nobody holds is closed
// if it was released or another is waiting for a place; an entry still queued
// that nobody waits for is dropped.
func (c *Client) unref(e *dialEntry) {
	c.mu.Lock()
	e.refs--
	var viaDone func()
	switch {
	case e.refs > 0:
	case e.queued != nil:
		c.queue.Remove(e.queued)
		e.queued = nil
		if c.conns[e.key] == e {
			delete(c.conns, e.key)
		}
		viaDone = e.viaDone
	case e.live:
		c.idled(e)
	}
	c.mu.Unlock()
	if viaDone != nil {
		viaDone() // it takes c.mu
	}
}

// Release tells c that the run needs host's connection no more: it is closed
// now if no command uses it, else when the last one ends. A later command to
// host dials again. The standalone scheduler calls it when a host's own task
// and those of its children are done, so that a run holds connections only to
// the hosts it still works with.
func (c *Client) Release(host core.Host) {
	t, err := c.resolve(host)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.conns[t.key()]
	if e == nil || (!e.live && e.queued == nil && !e.slot) { // a remembered failure stays
		return
	}
	e.released = true
	if e.live && e.refs == 0 {
		c.evict(e)
		c.admit()
	}
}

// peakConns is the most connections that were open or being dialled at once.
func (c *Client) peakConns() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peak
}

// dialEntry dials for e and watches the connection until it ends. Each
// attempt is bounded by the connect timeout, and all by Close, not by a
// caller's ctx, because the connection serves every caller. A passing refusal
// is tried again after a backoff, ssh { retries } times.
func (c *Client) dialEntry(e *dialEntry) {
	t := e.t
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(c.ctx, t.timeout)
		e.c, e.err = c.dial(ctx, t, e.via)
		cancel()
		if !c.retry(c.ctx, e.err, attempt, t.retries) {
			if e.err != nil && attempt > 0 {
				e.err = fmt.Errorf("%w (%d attempts)", e.err, attempt+1)
			}
			break
		}
		c.log.Debug("ssh dial refused, retrying", "host", t.display, "attempt", attempt+1, "err", e.err)
	}
	c.mu.Lock()
	if e.err != nil {
		c.free(e)
		if !permanent(e.err) && c.conns[e.key] == e {
			delete(c.conns, e.key)
		}
		c.admit()
		c.mu.Unlock()
		close(e.ready)
		if e.viaDone != nil {
			e.viaDone()
		}
		c.log.Debug("ssh dial failed", "host", t.display, "err", e.err)
		return
	}
	e.live = true
	if e.refs == 0 { // its callers gave up meanwhile
		c.idled(e)
	}
	c.mu.Unlock()
	close(e.ready)
	c.log.Debug("ssh connected", "host", t.display, "addr", t.addr(), "user", t.user)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.keepalive(e.c, t)
	}()
	err := e.c.client.Wait()
	// Forgotten before done: whoever sees done dials anew.
	c.mu.Lock()
	e.live = false
	c.unidle(e)
	if c.conns[e.key] == e {
		delete(c.conns, e.key)
	}
	c.free(e)
	c.admit()
	c.mu.Unlock()
	close(e.c.done)
	if e.viaDone != nil {
		e.viaDone()
	}
	c.log.Debug("ssh connection closed", "host", t.display, "err", err)
}

func (c *Client) dial(ctx context.Context, t target, via *conn) (*conn, error) {
	addr := t.addr()
	var nc net.Conn
	var err error
	switch {
	case via != nil:
		// A direct-tcpip channel of the jump host's connection.
		nc, err = via.client.DialContext(ctx, "tcp", addr)
		if err != nil {
			if ctx.Err() == context.DeadlineExceeded {
				return nil, fmt.Errorf("host %s: connect to %s via %s: timed out after %s", t.display, addr, t.via.display, t.timeout)
			}
			return nil, fmt.Errorf("host %s: connect to %s via %s: %w", t.display, addr, t.via.display, err)
		}
	case t.proxyCmd != "":
		if nc, err = startProxy(t.proxyCmd, addr); err != nil {
			return nil, fmt.Errorf("host %s: ProxyCommand: %w", t.display, err)
		}
	default:
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if ctx.Err() == context.DeadlineExceeded {
				return nil, fmt.Errorf("host %s: connect to %s: timed out after %s", t.display, addr, t.timeout)
			}
			return nil, passing(err, fmt.Errorf("host %s: connect to %s: %w", t.display, addr, err))
		}
	}
	// The handshake (and a stuck server) is bounded by the same ctx.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	var keyErr error
	hs := c.keys.handshake(t)
	check := hs.callback()
	cfg := &ssh.ClientConfig{
		User: t.user,
		Auth: c.authMethods(t),
		HostKeyCallback: func(h string, r net.Addr, k ssh.PublicKey) error {
			keyErr = check(h, r, k)
			return keyErr
		},
		HostKeyAlgorithms: hs.algorithms(),
	}
	cc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if !stop() {
		if err == nil {
			cc.Close()
		}
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("host %s: ssh handshake with %s: timed out after %s", t.display, addr, t.timeout)
		}
		return nil, fmt.Errorf("host %s: ssh handshake with %s: %w", t.display, addr, ctx.Err())
	}
	switch {
	case keyErr != nil:
		nc.Close()
		return nil, keyErr
	case err != nil && strings.Contains(err.Error(), "unable to authenticate"):
		nc.Close()
		return nil, fmt.Errorf("host %s: %w as %s: %s", t.display, ErrAuth, t.user, c.redact(err.Error()))
	case err != nil:
		nc.Close()
		return nil, passing(err, fmt.Errorf("host %s: ssh handshake with %s: %s", t.display, addr, c.redact(err.Error())))
	}
	return &conn{
		client: ssh.NewClient(cc, chans, reqs),
		nc:     nc,
		sem:    make(chan struct{}, c.opts.MaxSessions),
		done:   make(chan struct{}),
	}, nil
}

// keepalive sends keepalive@openssh.com every interval and closes the
// connection after t.aliveMax requests in a row got no answer in time, so that
// commands on a dead link fail instead of hanging.
func (c *Client) keepalive(cn *conn, t target) {
	interval := t.keepalive
	if interval <= 0 {
		return // ServerAliveInterval 0
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	missed := 0
	for {
		select {
		case <-cn.done:
			return
		case <-tick.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := cn.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		timer := time.NewTimer(interval)
		select {
		case <-cn.done:
			timer.Stop()
			return
		case err := <-reply:
			timer.Stop()
			if err != nil {
				return // the connection is ending; dialEntry sees it
			}
			missed = 0
		case <-timer.C:
			missed++
			if missed >= t.aliveMax {
				c.log.Warn("ssh connection unresponsive, closing it", "host", t.display, "missed_keepalives", missed)
				cn.client.Close()
				return
			}
		}
	}
}

// transientError is a failure that the same request may not meet a moment
// later: sshd refused or dropped the connection before the handshake (it does
// at its MaxStartups limit, or while it restarts), or had no channel free.
// Host-key and authentication failures are never transient.
type transientError struct{ error }

func (e transientError) Unwrap() error { return e.error }

// passing marks err transient when its cause, from the network or the SSH
// handshake, is a refusal or a connection dropped before the server spoke, or
// this process out of file descriptors (others close as commands end).
func passing(cause, err error) error {
	if errors.Is(cause, syscall.ECONNREFUSED) || errors.Is(cause, syscall.ECONNRESET) || errors.Is(cause, io.EOF) ||
		errors.Is(cause, syscall.EMFILE) || errors.Is(cause, syscall.ENFILE) {
		return transientError{err}
	}
	return err
}

// retry reports whether a request that failed with err on attempt (from 0)
// is to be made again, after waiting its backoff: only a transient failure,
// at most limit times (ssh { retries }, or ConnectionAttempts), and not once ctx ends or the client closes.
func (c *Client) retry(ctx context.Context, err error, attempt, limit int) bool {
	if !errors.As(err, new(transientError)) || attempt >= limit {
		return false
	}
	// 250ms, 500ms, 1s... with jitter, so that the clients a loaded sshd
	// turned away do not all come back at once.
	d := min(retryBase<<attempt, retryMax)
	d = d/2 + rand.N(d/2+1)
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	case <-c.ctx.Done():
		return false
	}
}

// errSessionsBusy: every session the bound allows on the connection is in use.
var errSessionsBusy = errors.New("every session of the connection is in use")

const (
	retryBase = 250 * time.Millisecond
	retryMax  = 4 * time.Second
)

// session opens a session on t's connection within the session bound; a
// connection found dead is replaced once, a session refused for lack of a
// channel is retried (see retry). release must be called when done. Unless
// wait, a connection whose sessions are all in use fails at once with
// errSessionsBusy.
func (c *Client) session(ctx context.Context, t target, wait bool) (sess *ssh.Session, release func(), err error) {
	refused := 0
	for attempt := 0; ; attempt++ {
		cn, done, err := c.conn(ctx, t)
		if err != nil {
			return nil, nil, err
		}
		if !wait {
			select {
			case cn.sem <- struct{}{}:
			default:
				done()
				return nil, nil, fmt.Errorf("host %s: %w", t.display, errSessionsBusy)
			}
		} else {
			select {
			case cn.sem <- struct{}{}:
			case <-ctx.Done():
				done()
				return nil, nil, fmt.Errorf("host %s: waiting for a free session: %w", t.display, ctx.Err())
			}
		}
		sess, err = cn.client.NewSession()
		if err == nil {
			return sess, func() { <-cn.sem; done() }, nil
		}
		<-cn.sem
		if errors.Is(err, io.EOF) && attempt == 0 {
			// The connection died under us (sshd restarted, link lost): drop it, redial once.
			cn.client.Close()
			<-cn.done
			done()
			continue
		}
		done()
		err = fmt.Errorf("host %s: open ssh session: %w", t.display, err)
		// sshd refuses a session while it has no channel free: more sessions
		// than MaxSessions, or one the client has already closed still counted
		// (its bookkeeping lags under load).
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) && oce.Reason == ssh.ConnectionFailed {
			err = transientError{err}
		}
		if !c.retry(ctx, err, refused, t.retries) {
			return nil, nil, err
		}
		refused++
	}
}
