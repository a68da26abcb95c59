// Package sshdtest runs a real OpenSSH sshd on 127.0.0.1 for tests of the
// packages that talk SSH.
package sshdtest
