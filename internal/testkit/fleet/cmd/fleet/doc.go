// Command fleet runs the test fleet by hand and drives `make demo`.
//
//	fleet demo [-hosts 12] [-grifork bin/grifork] [-file examples/Griforkfile.demo.lua] [-keep]
//	fleet up   [-hosts N] [-name NAME] [-rate MBIT]   # prints the settings, runs until Ctrl-C
//	fleet down [-name NAME]                           # removes what a killed fleet left
//
// It needs root (network and mount namespaces).
package main
