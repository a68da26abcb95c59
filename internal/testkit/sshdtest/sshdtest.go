package sshdtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// NeedRoot skips a test that needs root and a real sshd, or fails it under CI,
// where these tests must run.
func NeedRoot(t *testing.T) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "needs root to run a real sshd"
	} else if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		reason = "needs OpenSSH's /usr/sbin/sshd (apt-get install openssh-server)"
	}
	if reason == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(reason + " (CI=true: not skipping)")
	}
	t.Skip(reason)
}

// SSHD is a real OpenSSH sshd on 127.0.0.1 with its own keys and config.
type SSHD struct {
	Dir        string
	Port       int
	HostKey    ssh.PublicKey
	UserKey    string // private key file authorized for root
	KnownHosts string // a known_hosts file holding HostKey
	Log        string // sshd's log (LogLevel VERBOSE)
}

type Opts struct {
	// Password: a user with this password exists for the sshd (in a private mount
	// namespace with copies of /etc/passwd and /etc/shadow; the system's are untouched).
	Password string
	// HostCA, when set, certifies the host key (HostCertificate, principal
	// 127.0.0.1); KnownHosts then holds only an @cert-authority line.
	HostCA ssh.Signer
	// UserCA, when set, is sshd's TrustedUserCAKeys and authorized_keys is
	// empty: only a certificate it signed logs in.
	UserCA ssh.Signer
	// SFTP offers the sftp subsystem (internal-sftp), as most sshd do.
	SFTP bool
}

const PasswordUser = "gfpwtest"

func WriteKey(t *testing.T, path, passphrase string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func Start(t *testing.T, o Opts) *SSHD {
	t.Helper()
	NeedRoot(t)
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	s := &SSHD{Dir: t.TempDir()}
	s.HostKey = WriteKey(t, filepath.Join(s.Dir, "host_ed25519"), "")
	s.UserKey = filepath.Join(s.Dir, "id_ed25519")
	userPub := WriteKey(t, s.UserKey, "")
	authorized := ssh.MarshalAuthorizedKey(userPub)
	if o.UserCA != nil {
		authorized = nil
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "authorized_keys"), authorized, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.certify(o); err != nil {
		t.Fatal(err)
	}
	s.Log = filepath.Join(s.Dir, "sshd.log")
	for attempt := 0; ; attempt++ {
		s.Port = FreePort(t)
		err := s.run(t, o)
		if err == nil {
			break
		}
		if attempt == 2 {
			t.Fatal(err)
		}
		t.Logf("sshd did not start (%v); retrying on another port", err)
	}
	s.KnownHosts = filepath.Join(s.Dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, s.HostKey) + "\n"
	if o.HostCA != nil {
		line = "@cert-authority [127.0.0.1]:* " + string(ssh.MarshalAuthorizedKey(o.HostCA.PublicKey()))
	}
	if err := os.WriteFile(s.KnownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// certify writes the host certificate and the user CA file that o asks for.
func (s *SSHD) certify(o Opts) error {
	if o.HostCA != nil {
		c := &ssh.Certificate{Key: s.HostKey, CertType: ssh.HostCert, KeyId: "sshdtest",
			ValidPrincipals: []string{"127.0.0.1"}, ValidBefore: ssh.CertTimeInfinity}
		if err := c.SignCert(rand.Reader, o.HostCA); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(s.Dir, "host_ed25519-cert.pub"), ssh.MarshalAuthorizedKey(c), 0o600); err != nil {
			return err
		}
	}
	if o.UserCA != nil {
		return os.WriteFile(filepath.Join(s.Dir, "user_ca.pub"), ssh.MarshalAuthorizedKey(o.UserCA.PublicKey()), 0o600)
	}
	return nil
}

func (s *SSHD) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

func (s *SSHD) run(t *testing.T, o Opts) error {
	pwAuth := "no"
	if o.Password != "" {
		pwAuth = "yes"
	}
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %[2]s/host_ed25519
PidFile %[2]s/sshd.pid
AuthorizedKeysFile %[2]s/authorized_keys
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication %s
KbdInteractiveAuthentication no
PubkeyAuthentication yes
MaxSessions 10
MaxStartups 100
LogLevel VERBOSE
`, s.Port, s.Dir, pwAuth)
	if o.HostCA != nil {
		cfg += "HostCertificate " + s.Dir + "/host_ed25519-cert.pub\n"
	}
	if o.UserCA != nil {
		cfg += "TrustedUserCAKeys " + s.Dir + "/user_ca.pub\n"
	}
	if o.SFTP {
		cfg += "Subsystem sftp internal-sftp\n"
	}
	cfgPath := filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	os.Remove(s.Log)
	logf, err := os.Create(s.Log)
	if err != nil {
		return err
	}
	defer logf.Close()
	sshd := []string{"/usr/sbin/sshd", "-D", "-e", "-f", cfgPath}
	// Sessions get a private, empty /root: the machine's dotfiles (a pyenv set-up
	// that takes a lock, say) must not make every remote command slow or hang.
	home := filepath.Join(s.Dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	script := "mount --bind " + core.ShellQuote(home) + " /root"
	if o.Password != "" {
		pw, err := s.passwordFiles(t, o.Password)
		if err != nil {
			return err
		}
		script += " && " + pw
	}
	// unshare execs the shell, which execs sshd: the PID stays sshd's.
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script+" && exec "+core.ShellJoin(sshd))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	// Readiness from the log, not by connecting: connection counts stay exact.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(s.Log)
		if bytes.Contains(b, []byte("Server listening on")) {
			t.Cleanup(stop)
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("sshd exited: %s", b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("sshd not listening after 10s: %s", b)
		}
	}
}

// passwordFiles writes copies of /etc/passwd and /etc/shadow with PasswordUser
// added and returns the shell commands that bind-mount them in sshd's namespace.
func (s *SSHD) passwordFiles(t *testing.T, password string) (string, error) {
	hash, err := exec.Command("openssl", "passwd", "-6", password).Output()
	if err != nil {
		t.Skipf("password auth test needs openssl to hash a password: %v", err)
	}
	var script []string
	for _, f := range []struct {
		sys, add string
		mode     os.FileMode
	}{
		{"/etc/passwd", PasswordUser + ":x:4242:4242:grifork test:/:/bin/sh\n", 0o644},
		{"/etc/shadow", fmt.Sprintf("%s:%s:19000:0:99999:7:::\n", PasswordUser, strings.TrimSpace(string(hash))), 0o600},
	} {
		b, err := os.ReadFile(f.sys)
		if err != nil {
			return "", err
		}
		cp := filepath.Join(s.Dir, filepath.Base(f.sys))
		if err := os.WriteFile(cp, append(b, f.add...), f.mode); err != nil {
			return "", err
		}
		script = append(script, "mount --bind "+core.ShellQuote(cp)+" "+f.sys)
	}
	return strings.Join(script, " && "), nil
}

// Connections counts the connections sshd accepted.
func (s *SSHD) Connections(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(s.Log)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("Connection from 127.0.0.1"))
}

// SyncBuffer is a goroutine-safe bytes.Buffer for printers and loggers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// SSHConfig is the ssh { } setting that logs into s as root with its key and
// known_hosts.
func (s *SSHD) SSHConfig() core.SSHConfig {
	return core.SSHConfig{User: "root", Port: s.Port, Keys: []string{s.UserKey},
		KnownHosts: s.KnownHosts, Timeout: 5 * time.Second}
}

// Local is the host name under which tests reach an SSHD.
var Local = core.Host{Name: "127.0.0.1"}
