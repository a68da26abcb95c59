// Package fleet starts a fleet of fake hosts on this machine for tests and the
// demo: each host is a real OpenSSH sshd in its own network namespace (a veth on a
// switch, an address in 198.18.0.0/15), its own mount namespace (private /srv, /tmp
// and /root, so hosts share neither files nor the machine's dotfiles and ~/.ssh)
// and its own UTS namespace (hostname). Processes are not isolated: a host's
// processes are the ones in its network namespace (see Procs).
//
// Everything a fleet creates is named after it ("gf-NAME", "gf-NAME-I") and
// recorded in a registry under /run/grifork-fleet, so that fleets of parallel test
// processes never collide and whatever a crashed run left is reclaimed by the next
// Start.
package fleet
