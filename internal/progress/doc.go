// Package progress draws the live status line of a run on a terminal: one line
// kept at the bottom (generation k of K, hosts ok / failed / skipped / pending,
// elapsed time), redrawn in place, with the run's output printed above it. It
// is built on github.com/vbauerster/mpb/v8, whose container prints writes
// above its bars; the line is never drawn on output that is not a terminal
// unless forced.
package progress
