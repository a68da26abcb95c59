package sshx

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys verifies host keys against a known_hosts file (plus, as ssh does
// when none is configured, the system-wide one). The files are read anew for
// every connection, so keys accepted by "accept-new" (by this process or
// another) count at once.
type hostKeys struct {
	path   string   // expanded; "accept-new" appends here
	shown  string   // as configured, for messages
	system []string // read-only extra files
	mode   string   // strict | accept-new | off
	log    *slog.Logger

	mu       sync.Mutex // serialises append-and-recheck within this process
	warnOnce sync.Once
}

// lookup parses the known_hosts files; missing files know no host.
func (h *hostKeys) lookup() (ssh.HostKeyCallback, error) {
	var files []string
	for _, f := range append([]string{h.path}, h.system...) {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }, nil
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	return cb, nil
}

var (
	probeOnce sync.Once
	probeKey  ssh.PublicKey
)

// algorithms lists the host key algorithms known_hosts holds for addr, so that
// the server is asked for a key we can check instead of another type (which
// knownhosts would report as a changed key). Nil means no preference.
func (h *hostKeys) algorithms(addr string, remote net.Addr) []string {
	if h.mode == "off" {
		return nil
	}
	probeOnce.Do(func() {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err == nil {
			probeKey, _ = ssh.NewPublicKey(pub)
		}
	})
	cb, err := h.lookup()
	if err != nil || probeKey == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(cb(addr, remote, probeKey), &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// callback checks the key that the server at addr offers; display names the
// host in errors.
func (h *hostKeys) callback(display string) ssh.HostKeyCallback {
	return func(addr string, remote net.Addr, key ssh.PublicKey) error {
		if h.mode == "off" {
			h.warnOnce.Do(func() {
				h.log.Warn(`host key checking is off (ssh { host_key_check = "off" }): connections can be intercepted`)
			})
			return nil
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		err := h.check(addr, remote, key)
		if errors.Is(err, ErrUnknownHostKey) && h.mode == "accept-new" {
			err = h.add(addr, remote, key)
		}
		if err != nil {
			return fmt.Errorf("host %s: %w", display, err)
		}
		return nil
	}
}

func (h *hostKeys) check(addr string, remote net.Addr, key ssh.PublicKey) error {
	cb, err := h.lookup()
	if err != nil {
		return err
	}
	err = cb(addr, remote, key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke) && len(ke.Want) == 0:
		return fmt.Errorf(`%w (%s %s); once you have checked the fingerprint, add this line to %s: %s (or set ssh { host_key_check = "accept-new" })`,
			ErrUnknownHostKey, keyType(key), ssh.FingerprintSHA256(key), h.shown, knownLine(addr, key))
	case errors.As(err, &ke):
		w := ke.Want[0]
		return fmt.Errorf("%w: the server offers %s %s but %s:%d holds %s %s for it; "+
			"if the change is expected, remove that line (ssh-keygen -R %s -f %s)",
			ErrHostKeyChanged, keyType(key), ssh.FingerprintSHA256(key), w.Filename, w.Line,
			keyType(w.Key), ssh.FingerprintSHA256(w.Key), knownhosts.Normalize(addr), h.shown)
	case errors.As(err, &re):
		return fmt.Errorf("%w: the server offers %s %s, which %s:%d marks as revoked",
			ErrHostKeyChanged, keyType(key), ssh.FingerprintSHA256(key), re.Revoked.Filename, re.Revoked.Line)
	default:
		return err
	}
}

// add appends the key under an exclusive lock of the file, so that concurrent
// connections (and other grifork processes) neither lose nor duplicate lines.
func (h *hostKeys) add(addr string, remote net.Addr, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	f, err := os.OpenFile(h.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("known_hosts %s: lock: %w", h.shown, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	// Another process may have added it (or a different key) meanwhile.
	if err := h.check(addr, remote, key); !errors.Is(err, ErrUnknownHostKey) {
		return err
	}
	line := knownLine(addr, key) + "\n"
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("known_hosts %s: %w", h.shown, err)
	}
	h.log.Info("added host key to known_hosts", "host", addr, "key", keyType(key)+" "+ssh.FingerprintSHA256(key), "file", h.shown)
	return nil
}

// knownLine is the known_hosts line for key at addr.
func knownLine(addr string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
}

// keyType names a key type as ssh-keygen does (ED25519, ECDSA, RSA).
func keyType(k ssh.PublicKey) string {
	t := k.Type()
	switch {
	case t == ssh.KeyAlgoED25519:
		return "ED25519"
	case strings.HasPrefix(t, "ecdsa-"):
		return "ECDSA"
	case t == ssh.KeyAlgoRSA:
		return "RSA"
	}
	return t
}
