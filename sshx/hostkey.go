package sshx

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/grifork/grifork/sshx/sshconf"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys verifies host keys as OpenSSH does: known_hosts lines (plain keys,
// @cert-authority with their host patterns, @revoked), a host's files and
// policy coming from its resolved target. Files are re-read when they change,
// so keys accepted by "accept-new" (by this process or another) count at once.
type hostKeys struct {
	log *slog.Logger

	mu       sync.Mutex // serialises accept-new's append-and-recheck within this process
	cache    sync.Map   // file name -> *khFile: handshakes read it without a lock
	warnOnce sync.Once
}

// khLine is one known_hosts entry.
type khLine struct {
	marker   string // "", "@cert-authority" or "@revoked"
	patterns string // the host field as written
	key      ssh.PublicKey
	file     string
	line     int
}

type khFile struct {
	mod   time.Time
	size  int64
	lines []khLine
}

func newHostKeys(log *slog.Logger) *hostKeys {
	return &hostKeys{log: log}
}

// load returns the lines of files (missing ones hold none), parsed once per
// version of each file.
func (h *hostKeys) load(files []string) []khLine {
	var out []khLine
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			continue
		}
		var c *khFile
		if v, ok := h.cache.Load(f); ok {
			c = v.(*khFile)
		}
		if c == nil || !c.mod.Equal(st.ModTime()) || c.size != st.Size() {
			b, err := os.ReadFile(f)
			if err != nil {
				h.log.Warn("known_hosts not readable", "file", f, "err", err)
				continue
			}
			c = &khFile{mod: st.ModTime(), size: st.Size(), lines: parseKnownHosts(b, f)}
			h.cache.Store(f, c)
		}
		out = append(out, c.lines...)
	}
	return out
}

// parseKnownHosts skips lines it cannot read, as ssh does.
func parseKnownHosts(b []byte, file string) []khLine {
	var out []khLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		l := khLine{file: file, line: n}
		if f[0] == "@cert-authority" || f[0] == "@revoked" {
			l.marker, f = f[0], f[1:]
		} else if strings.HasPrefix(f[0], "@") {
			continue
		}
		if len(f) < 3 {
			continue
		}
		l.patterns = f[0]
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.Join(f[1:], " ")))
		if err != nil {
			continue
		}
		l.key = k
		out = append(out, l)
	}
	return out
}

// matchHost reports whether name (as knownhosts.Normalize writes it) is in
// the line's host patterns: hashed, wildcards, and "!" negation.
func (l khLine) matchHost(name string) bool {
	if l.marker == "@revoked" {
		return true // a revoked key is revoked for every host
	}
	if strings.HasPrefix(l.patterns, "|1|") {
		return hashedMatch(l.patterns, name)
	}
	name = strings.ToLower(name)
	hit := false
	for _, p := range strings.Split(l.patterns, ",") {
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if sshconf.Wildcard(strings.ToLower(p), name) {
			if neg {
				return false
			}
			hit = true
		}
	}
	return hit
}

func hashedMatch(field, name string) bool {
	parts := strings.Split(field, "|") // "", "1", salt, hash
	if len(parts) != 4 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	want, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	m := hmac.New(sha1.New, salt)
	m.Write([]byte(name))
	return hmac.Equal(m.Sum(nil), want)
}

// khName is the name a target has in known_hosts: host, or [host]:port.
func khName(t target) string {
	return knownhosts.Normalize(t.addr())
}

// certAlgos are the host certificate algorithms, preferred where a CA is trusted.
var certAlgos = []string{
	ssh.CertAlgoED25519v01, ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01,
	ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
}

// handshake is the host key side of one connection to t: its known_hosts
// lines, read once for both the algorithms offered and the key's check.
type handshake struct {
	h     *hostKeys
	t     target
	lines []khLine
}

func (h *hostKeys) handshake(t target) *handshake {
	hs := &handshake{h: h, t: t}
	if t.check != "off" {
		hs.lines = h.load(t.knownFiles())
	}
	return hs
}

// algorithms orders the host key algorithms so that the server presents a key
// known_hosts can verify: certificate algorithms first when a @cert-authority
// line matches the host, then the types of its key lines, then the rest (a
// host that has none of those still gets a clear "unknown host key"). An
// explicit HostKeyAlgorithms is used as given, as ssh does.
func (hs *handshake) algorithms() []string {
	t := hs.t
	if len(t.hostKeyAlgos) > 0 {
		return t.hostKeyAlgos
	}
	if t.check == "off" {
		return nil
	}
	name := khName(t)
	var first []string
	for _, l := range hs.lines {
		if l.marker == "@revoked" || !l.matchHost(name) {
			continue
		}
		if l.marker == "@cert-authority" {
			first = append(first, certAlgos...)
			continue
		}
		switch typ := l.key.Type(); typ {
		case ssh.KeyAlgoRSA:
			first = append(first, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
		default:
			first = append(first, typ)
		}
	}
	if len(first) == 0 {
		return nil
	}
	all := append(first, ssh.SupportedAlgorithms().HostKeys...)
	var out []string
	for _, a := range all {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// callback checks the key that the server offers.
func (hs *handshake) callback() ssh.HostKeyCallback {
	h, t := hs.h, hs.t
	return func(_ string, _ net.Addr, key ssh.PublicKey) error {
		if t.check == "off" {
			h.warnOnce.Do(func() {
				h.log.Warn(`host key checking is off (ssh { host_key_check = "off" } or StrictHostKeyChecking no): connections can be intercepted`)
			})
			return nil
		}
		err := checkKey(t, hs.lines, key)
		if errors.Is(err, ErrUnknownHostKey) && t.check == "accept-new" && !errors.As(err, new(otherKnown)) {
			err = h.add(t, key)
		}
		if err != nil {
			return fmt.Errorf("host %s: %w", t.display, err)
		}
		return nil
	}
}

// otherKnown is an unknown key of a host for which known_hosts holds keys of
// other types or a CA: accept-new does not add it.
type otherKnown struct{ error }

func (e otherKnown) Unwrap() error { return e.error }

// check checks key against t's known_hosts files as they are now.
func (h *hostKeys) check(t target, key ssh.PublicKey) error {
	return checkKey(t, h.load(t.knownFiles()), key)
}

// checkKey checks key, offered by the server of t, against lines.
func checkKey(t target, lines []khLine, key ssh.PublicKey) error {
	name := khName(t)
	if l := revokedLine(lines, key); l != nil {
		return fmt.Errorf("%w: the server offers %s %s, which %s:%d marks @revoked; grifork will not connect to it",
			ErrHostKeyRevoked, keyType(key), fingerprint(key), l.file, l.line)
	}
	var certNote string
	if cert, ok := key.(*ssh.Certificate); ok {
		checker := ssh.CertChecker{
			IsHostAuthority: func(auth ssh.PublicKey, _ string) bool {
				for _, l := range lines {
					if l.marker == "@cert-authority" && keyEqual(l.key, auth) && l.matchHost(name) {
						return true
					}
				}
				return false
			},
		}
		// The principal is the host name, as ssh checks it.
		err := checker.CheckHostKey(net.JoinHostPort(t.hostname, "22"), nil, cert)
		if err == nil {
			return nil
		}
		// As ssh: a certificate that does not verify is checked as its plain key.
		certNote = fmt.Sprintf("; its certificate was not accepted (%v)", err)
		key = cert.Key
	}
	var other, ca *khLine
	for i, l := range lines {
		if l.marker == "@revoked" || !l.matchHost(name) {
			continue
		}
		if l.marker == "@cert-authority" {
			if ca == nil {
				ca = &lines[i]
			}
			continue
		}
		if keyEqual(l.key, key) {
			return nil
		}
		if l.key.Type() == key.Type() {
			return fmt.Errorf("%w: the server offers %s %s but %s:%d holds %s %s for it; "+
				"if the change is expected, remove that line (ssh-keygen -R %s -f %s)",
				ErrHostKeyChanged, keyType(key), fingerprint(key), l.file, l.line,
				keyType(l.key), fingerprint(l.key), name, l.file)
		}
		if other == nil {
			other = &lines[i]
		}
	}
	switch {
	case other != nil:
		return otherKnown{fmt.Errorf("%w (%s %s)%s; %s:%d holds a key of type %s for it, which the server did not offer: check the host before adding the key",
			ErrUnknownHostKey, keyType(key), fingerprint(key), certNote, other.file, other.line, keyType(other.key))}
	case ca != nil:
		return otherKnown{fmt.Errorf("%w (%s %s)%s; %s:%d trusts a certificate authority for it, but the server offered no certificate it signed",
			ErrUnknownHostKey, keyType(key), fingerprint(key), certNote, ca.file, ca.line)}
	}
	return fmt.Errorf(`%w (%s %s)%s; once you have checked the fingerprint, add this line to %s: %s (or set ssh { host_key_check = "accept-new" })`,
		ErrUnknownHostKey, keyType(key), fingerprint(key), certNote, t.knownShown, knownLine(t, key))
}

// revokedLine is the @revoked line of key, of a certificate's key or of its CA.
func revokedLine(lines []khLine, key ssh.PublicKey) *khLine {
	keys := []ssh.PublicKey{key}
	if cert, ok := key.(*ssh.Certificate); ok {
		keys = []ssh.PublicKey{cert.Key, cert.SignatureKey}
	}
	for i, l := range lines {
		if l.marker != "@revoked" {
			continue
		}
		for _, k := range keys {
			if keyEqual(l.key, k) {
				return &lines[i]
			}
		}
	}
	return nil
}

func keyEqual(a, b ssh.PublicKey) bool { return bytes.Equal(a.Marshal(), b.Marshal()) }

// add appends the key under an exclusive lock of the file, so that concurrent
// connections (and other grifork processes) neither lose nor duplicate lines.
func (h *hostKeys) add(t target, key ssh.PublicKey) error {
	if cert, ok := key.(*ssh.Certificate); ok {
		key = cert.Key
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	path := t.known[0]
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("known_hosts %s: lock: %w", t.knownShown, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	// Another process may have added it (or a different key) meanwhile.
	if err := h.check(t, key); !errors.Is(err, ErrUnknownHostKey) {
		return err
	}
	line := knownLine(t, key) + "\n"
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("known_hosts %s: %w", t.knownShown, err)
	}
	h.log.Info("added host key to known_hosts", "host", t.addr(), "key", keyType(key)+" "+fingerprint(key), "file", t.knownShown)
	return nil
}

// knownLine is the known_hosts line for key of t.
func knownLine(t target, key ssh.PublicKey) string {
	return knownhosts.Line([]string{khName(t)}, key)
}

// keyType names a key type as ssh-keygen does (ED25519, ECDSA, RSA, ED25519-CERT).
func keyType(k ssh.PublicKey) string {
	if c, ok := k.(*ssh.Certificate); ok {
		return keyType(c.Key) + "-CERT"
	}
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

// fingerprint is a key's SHA256 fingerprint; a certificate's is its key's, as ssh shows it.
func fingerprint(k ssh.PublicKey) string {
	if c, ok := k.(*ssh.Certificate); ok {
		k = c.Key
	}
	return ssh.FingerprintSHA256(k)
}
