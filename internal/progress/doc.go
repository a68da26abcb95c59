// Package progress draws the live status line of a run on a terminal: one line
// kept at the bottom (generation k of K, hosts ok / failed / skipped / pending,
// elapsed time; while a broadcast runs, the bytes it sent and their rate),
// redrawn in place, with the run's output printed above it. It is built on
// github.com/vbauerster/mpb/v8, whose container prints writes above its bars.
// On output that is not a terminal the line is drawn only when forced, and
// then as plain lines between the output's, never redrawn in place.
package progress
