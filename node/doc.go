// Package node is the grifork process on a node, both ends of it: shipping the
// grifork binary to a host (SHA-256-cached in its tmpdir), the command lines
// that start it there, and the streams it speaks with its parent. Grifork mode's
// fork (Forker) and the pipelined broadcast's relay (Broadcaster, RunRelay) are
// its two uses; sshx below it is only the transport.
package node
