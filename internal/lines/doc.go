// Package lines splits a stream of bytes into lines, holding at most a bounded
// piece of a line however long it is. It is the one line splitter: the output
// printer (core/output) labels and prints its lines, core's event writer turns
// them into events, and the transport (sshx) finds a failure's reason in a
// command's stderr with it, without importing the output.
package lines
