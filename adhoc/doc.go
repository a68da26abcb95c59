// Package adhoc writes the Griforkfiles of grifork's ad-hoc commands (exec and
// copy): the command line becomes the Lua source a user would have written, so
// it is loaded, planned, run and (in grifork mode) shipped to the nodes exactly
// as a Griforkfile is. There is one engine.
package adhoc
