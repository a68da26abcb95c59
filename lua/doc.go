// Package lua holds the Lua source that grifork embeds into its binary.
package lua
