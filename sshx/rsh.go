package sshx

import (
	"math"
	"strconv"
	"strings"

	"github.com/grifork/grifork/core"
)

// Rsh is the ssh command line for rsync's --rsh that reaches host with the same
// settings as the Client: port and user when set, the ssh { keys } as -i (paths
// as written: ssh expands ~, also on a remote node running rsync_remote), the
// host-key policy, the known_hosts file, the ssh_config file when not the
// default, the connect timeout and keepalives. BatchMode=yes makes ssh fail
// rather than prompt. It never holds a password or passphrase: rsync needs key
// or agent authentication (an encrypted key must be loaded into ssh-agent).
// HostName, User, Port and IdentityFile of ~/.ssh/config are applied by ssh itself.
func (c *Client) Rsh(host core.Host) string {
	port := host.Port
	if port == 0 {
		port = c.opts.SSH.Port
	}
	user := host.User
	if user == "" {
		user = c.opts.SSH.User
	}
	// Only port and user vary between hosts: a plan of 100,000 rsyncs asks
	// for the same few command lines over and over.
	k := rshKey{port: port, user: user}
	if s, ok := c.rsh.Load(k); ok {
		return s.(string)
	}
	s := c.rshLine(port, user)
	c.rsh.Store(k, s)
	return s
}

type rshKey struct {
	port int
	user string
}

func (c *Client) rshLine(port int, user string) string {
	args := []string{"ssh"}
	if c.opts.ConfigFile != "" {
		args = append(args, "-F", c.opts.ConfigFile)
	}
	args = append(args, "-o", "BatchMode=yes",
		"-o", "ConnectTimeout="+strconv.Itoa(int(math.Ceil(c.opts.SSH.Timeout.Seconds()))),
		"-o", "ServerAliveInterval="+strconv.Itoa(int(math.Ceil(c.opts.Keepalive.Seconds()))),
		"-o", "ServerAliveCountMax="+strconv.Itoa(keepaliveMax))
	if port != 0 {
		args = append(args, "-p", strconv.Itoa(port))
	}
	if user != "" {
		args = append(args, "-l", user)
	}
	for _, k := range c.opts.SSH.Keys {
		args = append(args, "-i", k)
	}
	switch c.opts.SSH.HostKeyCheck {
	case "off":
		args = append(args, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null")
	case "accept-new":
		args = append(args, "-o", "StrictHostKeyChecking=accept-new")
	default:
		args = append(args, "-o", "StrictHostKeyChecking=yes")
	}
	if kh := c.opts.SSH.KnownHosts; kh != "" && c.opts.SSH.HostKeyCheck != "off" {
		if strings.ContainsAny(kh, " \t") {
			kh = `"` + kh + `"` // ssh's own quoting inside the -o value
		}
		args = append(args, "-o", "UserKnownHostsFile="+kh)
	}
	return core.ShellJoin(args)
}
