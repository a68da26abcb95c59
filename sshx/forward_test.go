package sshx

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/grifork/grifork/internal/testkit/sshdtest"
)

// A stream from DialUnix closes its sending side alone: the peer reads to EOF
// and its answer still comes back. The broadcast ends every stream so, and
// waits for the child to close, or the stream's tail could be lost.
func TestDialUnixHalfClose(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	sock := filepath.Join(t.TempDir(), "peer.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		got, _ := io.ReadAll(c) // up to the client's EOF
		c.Write([]byte("read " + string(got)))
	}()
	c, _ := newClient(t, s, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, err := c.DialUnix(ctx, local, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("the stream (%T) cannot close its sending side alone", nc)
	}
	if _, err := io.WriteString(nc, "tail"); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(nc)
	if err != nil || string(got) != "read tail" {
		t.Errorf("answer %q, %v; want %q", got, err, "read tail")
	}
}
