// Package output is grifork's output: the one goroutine-safe Printer that every
// line of task and command output goes through, labelled with its host ("web1
// | text", a piece of a line longer than MaxLine marked " |+ "), with secrets
// redacted; its queue towards a slow terminal or file, the QueueWriter of the
// logs, and gather (-g: each host's output collected and printed once per group
// of hosts that printed the same). It knows labels and lines, not hosts, edges
// or trees: the caller chooses the label. The transport (sshx) does not import
// it: it writes a command's output to writers its caller builds from here.
package output
