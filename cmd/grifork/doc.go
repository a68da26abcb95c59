// Command grifork runs the tasks of a Griforkfile across a fleet of servers in the
// shape of a tree. main only wires the packages together; see package core for the
// run itself.
package main
