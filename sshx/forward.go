package sshx

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/grifork/grifork/core"
)

// Connect opens the connection to host now (or finds it open), so that a later
// command or DialUnix does not pay the handshake.
func (c *Client) Connect(ctx context.Context, host core.Host) error {
	t, err := c.resolve(host)
	if err != nil {
		return err
	}
	_, done, err := c.conn(ctx, t)
	if err == nil {
		done()
	}
	return err
}

// DialUnix opens a stream to the Unix socket at path on host through the
// connection's direct-streamlocal channel (OpenSSH's AllowStreamLocalForwarding,
// on by default): bytes flow between this process and whatever listens there,
// with no process started on host. Deadlines are not supported on the stream.
func (c *Client) DialUnix(ctx context.Context, host core.Host, path string) (net.Conn, error) {
	t, err := c.resolve(host)
	if err != nil {
		return nil, err
	}
	cn, done, err := c.conn(ctx, t)
	if err != nil {
		return nil, err
	}
	nc, err := cn.client.Dial("unix", path)
	if err != nil {
		done()
		return nil, fmt.Errorf("host %s: open a stream to %s: %w", t.display, path, err)
	}
	return &heldConn{Conn: nc, done: done, cn: cn}, nil
}

// heldConn holds its SSH connection until it is closed.
type heldConn struct {
	net.Conn
	done func()
	cn   *conn
}

// CloseConn closes the whole SSH connection the stream runs over, and every
// session and stream on it: a host whose network froze never answers the
// channel's close, so a write waiting for the channel's window returns only
// once the connection drops (which keepalives may never do).
func (h *heldConn) CloseConn() error {
	return h.cn.client.Close()
}

func (h *heldConn) Close() error {
	err := h.Conn.Close()
	h.done()
	return err
}

// CloseWrite ends the stream's sending side (the channel's EOF) and keeps
// reading open: a writer that closed instead could lose the stream's tail.
func (h *heldConn) CloseWrite() error {
	cw, ok := h.Conn.(interface{ CloseWrite() error })
	if !ok {
		return errors.New("the stream cannot close its sending side alone")
	}
	return cw.CloseWrite()
}

// node's stall watchdog finds CloseConn by this interface.
var _ interface{ CloseConn() error } = (*heldConn)(nil)

// TCPPeer is the address at the other end of the TCP connection that host's
// SSH connection runs over (opening the connection if need be), or nil when
// it runs over a jump host's channel or a ProxyCommand: then this machine
// knows no route of its own to the host.
func (c *Client) TCPPeer(ctx context.Context, host core.Host) (*net.TCPAddr, error) {
	t, err := c.resolve(host)
	if err != nil {
		return nil, err
	}
	if t.via != nil || t.proxyCmd != "" {
		return nil, nil
	}
	cn, done, err := c.conn(ctx, t)
	if err != nil {
		return nil, err
	}
	defer done()
	tc, ok := cn.nc.(*net.TCPConn)
	if !ok {
		return nil, nil
	}
	a, _ := tc.RemoteAddr().(*net.TCPAddr)
	return a, nil
}
