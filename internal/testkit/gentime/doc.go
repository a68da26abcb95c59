// Package gentime tells where a run's time went, generation by generation, from
// its report (`--report FILE`): for each level of the tree, when its first task
// started and its last one ended, relative to the run's start, and the sum of
// its tasks' durations. The large-fleet benchmark and end-to-end test print it.
package gentime
