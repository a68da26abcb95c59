package sshx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/grifork/grifork/core"
)

// ErrNoSubsystem is Subsystem's error (wrapped) when host's sshd does not
// offer the subsystem asked for.
var ErrNoSubsystem = errors.New("subsystem not offered")

// SubsystemSession is a subsystem running on a host: its input and output,
// raw, on a session of its own. Close ends it.
type SubsystemSession struct {
	io.Reader // its standard output
	In        io.WriteCloser
	close     func()
}

// Close ends the session and frees its place on the connection.
func (s *SubsystemSession) Close() error {
	s.close()
	return nil
}

// Subsystem starts the subsystem name (such as "sftp") on host, in a session
// of its own on host's connection; cancelling ctx closes the session. An sshd
// that does not offer it refuses the request: the error then wraps
// ErrNoSubsystem. It does not wait for a session when all the connection
// allows are in use (an error at once): the caller may hold some of them
// until this one ends (Shipper's deploy sessions), and has another way.
func (c *Client) Subsystem(ctx context.Context, host core.Host, name string) (*SubsystemSession, error) {
	t, err := c.resolve(host)
	if err != nil {
		return nil, err
	}
	sess, release, err := c.session(ctx, t, false)
	if err != nil {
		return nil, err
	}
	end := func() {
		sess.Close()
		release()
	}
	in, err := sess.StdinPipe()
	var out io.Reader
	if err == nil {
		out, err = sess.StdoutPipe()
	}
	if err != nil {
		end()
		return nil, fmt.Errorf("host %s: %s: %w", t.display, name, err)
	}
	if err := sess.RequestSubsystem(name); err != nil {
		end()
		return nil, fmt.Errorf("host %s: %s: %w (%w)", t.display, name, ErrNoSubsystem, err)
	}
	var once sync.Once
	stop := context.AfterFunc(ctx, func() { once.Do(end) })
	return &SubsystemSession{Reader: out, In: in, close: func() {
		stop()
		once.Do(end)
	}}, nil
}
