package fleet

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"

	"golang.org/x/crypto/ssh"
)

// writeKeyPair writes an ed25519 key pair in OpenSSH format (path and path.pub)
// and returns the public key's authorized_keys line.
func writeKeyPair(path, comment string) ([]byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	line := ssh.MarshalAuthorizedKey(sp)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	if err := os.WriteFile(path+".pub", line, 0o644); err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return line, nil
}

// sshdVersion returns OpenSSH's major and minor version ("OpenSSH_9.2p1").
func sshdVersion() (int, int) {
	out, _ := exec.Command(sshdPath, "-V").CombinedOutput() // -V exits non-zero on old releases
	m := regexp.MustCompile(`OpenSSH_(\d+)\.(\d+)`).FindSubmatch(out)
	if m == nil {
		return 0, 0
	}
	a, _ := strconv.Atoi(string(m[1]))
	b, _ := strconv.Atoi(string(m[2]))
	return a, b
}

func sshdConfig(addr, hostKey, authKeys string, major, minor int) string {
	cfg := fmt.Sprintf(`# grifork test fleet host %s
ListenAddress %s
Port 22
HostKey %s
AuthorizedKeysFile %s
PidFile none
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel VERBOSE
MaxStartups 200
MaxSessions 64
Subsystem sftp internal-sftp
`, addr, addr, hostKey, authKeys)
	// From 9.8 on sshd penalises sources that disconnect before auth (what a
	// changed-key test does); one penalty would fail later tests from the root.
	if major > 9 || (major == 9 && minor >= 8) {
		cfg += "PerSourcePenalties no\n"
	}
	return cfg
}

func sshConfig(key, knownHosts string) string {
	return fmt.Sprintf(`# grifork test fleet: ssh -F this-file HOST, also from host to host
Host *
	User root
	IdentityFile %s
	IdentitiesOnly yes
	UserKnownHostsFile %s
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	ConnectTimeout 10
	LogLevel ERROR
`, key, knownHosts)
}

// certifyHost writes keyFile-cert.pub: the host key (authorized_keys line pub)
// certified by ca for principal.
func certifyHost(keyFile string, pub []byte, principal string, ca ssh.Signer) error {
	k, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		return fmt.Errorf("host key %s: %w", keyFile, err)
	}
	c := &ssh.Certificate{Key: k, CertType: ssh.HostCert, KeyId: principal, ValidPrincipals: []string{principal},
		ValidBefore: ssh.CertTimeInfinity}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		return fmt.Errorf("host key %s: %w", keyFile, err)
	}
	return os.WriteFile(keyFile+"-cert.pub", ssh.MarshalAuthorizedKey(c), 0o644)
}
