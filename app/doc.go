// Package app is grifork's application, under the command line: loading a
// Griforkfile (a Ruby one converted), planning (-n), running it in either
// mode, exec, copy, graph, convert, init, completion, and the node side of a
// run (RunNode: --on-remote, --relay). CLI is the grammar of its commands;
// cmd/grifork parses the command line with it and calls Execute.
//
// Every error carries the exit code it ends grifork with (ExitError); Exit
// is the one place that turns an error into that code and its line on stderr.
package app
