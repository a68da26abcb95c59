// Package ruby converts Ruby Griforkfiles (the DSL of the original grifork) to
// the Lua DSL. It understands a fixed subset of Ruby with a small lexer and a
// recursive-descent parser; anything outside that subset is reported as an error
// naming the file, the line and the construct, never converted approximately.
//
// The Lua output is line-aligned with the Ruby input: the code of Ruby line N is
// on Lua line N, so errors raised while running a converted file name the line
// of the Ruby file.
package ruby
