package sshx

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/grifork/grifork/internal/testkit/sshdtest"
)

// Subsystem starts a subsystem sshd offers (here its internal-sftp, which
// answers an SFTP INIT with its VERSION), and says ErrNoSubsystem where sshd
// offers none; cancelling its context ends the session.
func TestSubsystem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		offered bool
	}{
		{"offered", true},
		{"not offered", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := sshdtest.Start(t, sshdtest.Opts{SFTP: tc.offered})
			c, _ := newClient(t, s, nil)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ss, err := c.Subsystem(ctx, local, "sftp")
			if !tc.offered {
				if !errors.Is(err, ErrNoSubsystem) {
					t.Fatalf("Subsystem: %v, want ErrNoSubsystem", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ss.Close()
			// SSH_FXP_INIT, version 3: length 5, type 1, version.
			if _, err := ss.In.Write([]byte{0, 0, 0, 5, 1, 0, 0, 0, 3}); err != nil {
				t.Fatal(err)
			}
			reply := make([]byte, 9)
			if _, err := io.ReadFull(ss, reply); err != nil || reply[4] != 2 {
				t.Fatalf("reply %v, %v; want SSH_FXP_VERSION (2)", reply, err)
			}
			cancel()
			done := make(chan error, 1)
			go func() {
				_, err := io.ReadAll(ss)
				done <- err
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the session did not end when its context was cancelled")
			}
		})
	}
}
