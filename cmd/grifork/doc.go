// Command grifork runs the tasks of a Griforkfile across a fleet of servers in the
// shape of a tree. It is thin: it parses the command line with package app's
// grammar, runs the command, and turns its error into the exit code
// (app.Exit); Ctrl-C, the version and shell completion are its own.
package main
