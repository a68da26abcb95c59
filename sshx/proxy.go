package sshx

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/grifork/grifork/internal/proc"
)

// proxyConn is a ProxyCommand's standard input and output as the
// connection's byte stream. Closing it ends the command's process group.
type proxyConn struct {
	cmd    *exec.Cmd
	r      io.ReadCloser
	w      io.WriteCloser
	addr   proxyAddr
	stderr *TailWriter
	once   sync.Once
	exited chan struct{}
}

// startProxy runs cmdline with /bin/sh in its own process group, as ssh does.
func startProxy(cmdline, addr string) (net.Conn, error) {
	cmd := exec.Command("/bin/sh", "-c", cmdline)
	cmd.SysProcAttr = proc.Attr()
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// A pipe of our own, not StdoutPipe: Wait (below, as soon as the command
	// exits) closes StdoutPipe's read end, which would drop what the command
	// wrote last and the connection has not read yet.
	r, cw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cw
	tail := NewTailWriter(func(string) {})
	cmd.Stderr = tail
	cmd.WaitDelay = killGrace // a descendant holding stderr open cannot hold Wait
	err = cmd.Start()
	cw.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: %w", cmdline, err)
	}
	p := &proxyConn{cmd: cmd, r: r, w: w, addr: proxyAddr(addr), stderr: tail, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	return p, nil
}

func (p *proxyConn) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == io.EOF && n == 0 {
		if why := p.stderr.Reason(); why != "" {
			return 0, fmt.Errorf("proxy command ended: %s: %w", why, io.EOF)
		}
	}
	return n, err
}

func (p *proxyConn) Write(b []byte) (int, error) { return p.w.Write(b) }

// Close ends the command's whole process group: TERM, then KILL if it lingers.
func (p *proxyConn) Close() error {
	p.once.Do(func() {
		p.w.Close()
		proc.Stop(p.cmd.Process.Pid, killGrace, p.exited)
		<-p.exited
		p.r.Close()
	})
	return nil
}

func (p *proxyConn) LocalAddr() net.Addr              { return proxyAddr("proxy") }
func (p *proxyConn) RemoteAddr() net.Addr             { return p.addr }
func (p *proxyConn) SetDeadline(time.Time) error      { return nil }
func (p *proxyConn) SetReadDeadline(time.Time) error  { return nil }
func (p *proxyConn) SetWriteDeadline(time.Time) error { return nil }

// proxyAddr names the far end of a ProxyCommand.
type proxyAddr string

func (a proxyAddr) Network() string { return "proxy" }
func (a proxyAddr) String() string  { return string(a) }
