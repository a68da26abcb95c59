package sshx

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/grifork/grifork/core"
)

// Login is whom the Client logs into a host as, on which port, and with
// which credentials: what the dry-run plan shows. It holds no secret, only
// whether a password is offered.
type Login struct {
	User string
	Port int
	// Keys are the key files offered, in order: ssh { keys }, then
	// ssh_config's IdentityFile; the default ones that exist when there is
	// neither and no agent.
	Keys []string
	// Certificates are CertificateFile entries, offered before their keys
	// (a KEY-cert.pub beside a key is offered too, when it exists).
	Certificates []string
	Agent        bool // the ssh-agent's keys are offered too
	Password     bool // ssh { password } is offered after the keys
}

// Equal reports whether l and o are the same login (TestLoginEqual checks
// that it compares every field).
func (l Login) Equal(o Login) bool {
	return l.User == o.User && l.Port == o.Port && l.Agent == o.Agent && l.Password == o.Password &&
		slices.Equal(l.Keys, o.Keys) && slices.Equal(l.Certificates, o.Certificates)
}

// String is l on one line: "user deploy, port 22, keys ~/.ssh/id_ed25519, ssh-agent".
func (l Login) String() string {
	s := fmt.Sprintf("user %s, port %d", l.User, l.Port)
	if len(l.Keys) > 0 {
		keys := make([]string, len(l.Keys))
		for i, k := range l.Keys {
			keys[i] = k
			if k == "" || strings.ContainsAny(k, " \t\n'\",\\") {
				keys[i] = strconv.Quote(k)
			}
		}
		s += ", keys " + strings.Join(keys, " ")
	}
	if len(l.Certificates) > 0 {
		s += ", certificates " + strings.Join(l.Certificates, " ")
	}
	if l.Agent {
		s += ", ssh-agent"
	}
	if l.Password {
		s += ", password"
	}
	if len(l.Keys) == 0 && !l.Agent && !l.Password {
		s += ", no key, agent or password"
	}
	return s
}

// Logins resolves how the Client would log into each of hosts, as the dial
// does (ssh settings, the host entry, ssh_config), reading no key and
// opening nothing.
func (c *Client) Logins(hosts []core.Host) ([]Login, error) {
	logins := make([]Login, len(hosts))
	// offered's fallback, the default keys that exist, stat'ed once for all
	// hosts (a stat per host was a quarter of 100,000 hosts' plan).
	var fallback []string
	for _, k := range defaultKeys {
		if fileExists(c.expandPath(k)) {
			fallback = append(fallback, k)
		}
	}
	for i, h := range hosts {
		t, err := c.peek(h)
		if err != nil {
			return nil, err
		}
		agent := t.agent != ""
		l := Login{User: t.user, Port: t.port, Agent: agent, Password: c.opts.SSH.Password != "", Certificates: t.certFiles}
		l.Keys = append(l.Keys, c.opts.SSH.Keys...)
		l.Keys = append(l.Keys, t.idFiles...)
		if len(l.Keys) == 0 && !agent {
			l.Keys = slices.Clip(fallback)
		}
		logins[i] = l
	}
	return logins, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
