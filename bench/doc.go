// Package bench measures grifork against the ways people copy a tree to a fleet
// without it, on fleets of real sshd hosts (internal/testkit/fleet; needs root):
// BenchmarkBroadcast the pipelined broadcast against flat rsync, pdcp, clush and
// taktuk (BenchmarkBroadcastLarge, opt-in, the broadcast alone on a larger
// fleet); BenchmarkPropagate and BenchmarkSlowHost the rsync tree against flat
// copies, on shaped links and with one slow link; BenchmarkLarge both modes on
// 200 hosts, per generation. Each reports its scenarios as ratios to a baseline
// of the same run and to the physical bound. BenchmarkScheduler and
// BenchmarkScale (simulated fleets of up to 100,000 hosts) are pure CPU and need
// no privileges. `make bench` runs them; docs/benchmarks.md has the figures.
package bench
