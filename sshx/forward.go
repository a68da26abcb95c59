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

// DirectAddr is the address at which this machine reaches host over a TCP
// connection of its own (the broadcast's direct stream), without opening an
// SSH connection for it: the far end of the TCP connection host's SSH
// connection runs over when one is open, else the name ssh_config gives the
// host (HostName), for the caller's dial to resolve as ssh would. It is ""
// when host is reached through a jump host or a ProxyCommand: then this
// machine knows no route of its own to the host.
func (c *Client) DirectAddr(host core.Host) (string, error) {
	t, err := c.resolve(host)
	if err != nil {
		return "", err
	}
	if t.via != nil || t.proxyCmd != "" {
		return "", nil
	}
	c.mu.Lock()
	e := c.conns[t.key()]
	c.mu.Unlock()
	if e != nil {
		select {
		case <-e.ready:
			if e.err == nil {
				if a, ok := e.c.nc.RemoteAddr().(*net.TCPAddr); ok {
					h, _, _ := net.SplitHostPort(a.String()) // keeps an IPv6 zone
					return h, nil
				}
			}
		default: // still connecting: the name resolves as well
		}
	}
	return t.hostname, nil
}
