//go:build !linux

package node

import (
	"os"

	"golang.org/x/sys/unix"
)

// futimens sets the times of the file open at fd, by its path p.
func futimens(fd int, p string, ts *[2]unix.Timespec) error {
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts[:], 0); err != nil {
		return &os.PathError{Op: "utimensat", Path: p, Err: err}
	}
	return nil
}

// exchange cannot swap two paths in one step here.
func exchange(a, b string) error { return errNoExchange }

// createMask is unknown here (the umask cannot be read without changing it,
// and dir may have a default ACL): every file gets its own chmod.
func createMask(dir string) uint32 { return 0o777 }
