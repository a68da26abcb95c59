// Package number writes counts the way grifork's messages show them (24,999),
// for the summary (core) and the gathered output (core/output) alike.
package number
