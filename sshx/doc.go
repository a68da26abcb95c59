// Package sshx runs grifork's commands: locally with os/exec, and on hosts over
// SSH (golang.org/x/crypto/ssh) with one multiplexed connection per host.
//
// Settings and their precedence follow OpenSSH, where command-line options beat
// ~/.ssh/config: the user and port of a host entry ("deploy@web1:2222") win, then
// the Griforkfile's ssh { user, port } (the equivalent of ssh -l / -p), then
// ~/.ssh/config (User, Port), then the defaults (current user, 22). HostName from
// ~/.ssh/config always applies. Keys from ssh { keys } are offered first, then the
// agent's, then IdentityFile keys from ~/.ssh/config; ~/.ssh/id_ed25519, id_ecdsa
// and id_rsa are tried only when none of these exist.
//
// Remote commands run without a pty (a pty mangles output). Each command is
// wrapped in a small /bin/sh script (so hosts need a POSIX /bin/sh) that runs it
// in the user's login shell, as ssh does, and on cancellation kills the
// command's whole process group (TERM, then KILL after 5s), so nothing started
// by a cancelled task keeps running on the host. The wrapper learns of the
// cancellation from the "signal" request (honoured by OpenSSH >= 7.9, but only
// for logins that use privilege separation: not for root), and, for Remote,
// from a watchdog that notices the session's channel close (also when the
// connection is lost); Start, whose stdin belongs to the command, kills the
// wrapper by PID from a second session on the same connection instead.
package sshx
