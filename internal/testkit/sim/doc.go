// Package sim is a simulated transport for benchmarks at fleet sizes no test
// machine can host: an Exec whose commands take the time a model gives them
// (per-command latency, a payload sent at a link rate, a share of failing
// hosts) on a scaled clock, and a Forker that plays each child's grifork in
// this process, relaying its events through a bounded pipe as JSON lines
// (core.EventWriter) as the real one does over SSH. Both schedulers and grifork mode's event relay run on
// them unchanged.
package sim
