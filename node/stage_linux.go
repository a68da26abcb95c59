package node

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// futimens sets the times of the file open at fd (p is its path, for errors):
// utimensat with no path, as glibc's futimens, which x/sys lacks.
func futimens(fd int, p string, ts *[2]unix.Timespec) error {
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if errno != 0 {
		return &os.PathError{Op: "utimensat", Path: p, Err: errno}
	}
	return nil
}

// exchange swaps the entries at a and b, which both exist, in one step;
// errNoExchange when the kernel or the file system cannot (RENAME_EXCHANGE
// came with Linux 3.15, and not every file system has it).
func exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	switch {
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		return errNoExchange
	case err != nil:
		return &os.LinkError{Op: "exchange", Old: a, New: b, Err: err}
	}
	return nil
}

// createMask is what a file created in dir loses of the mode it is created
// with: the umask, unless dir has a default ACL, which replaces the umask there
// (acl(5)) and may take any bit; 0o777 then, and when unknown, so that every
// file gets its own chmod.
func createMask(dir string) uint32 {
	n, err := unix.Getxattr(dir, "system.posix_acl_default", nil)
	if (err == nil && n > 0) || (err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP)) {
		return 0o777
	}
	return umask()
}

// umask is this process's file mode creation mask, read without changing it
// (umask(2) can only set it); 0o777 when unknown, so that every file gets its
// own chmod.
func umask() uint32 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0o777
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return uint32(m)
			}
		}
	}
	return 0o777
}
