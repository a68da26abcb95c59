// Package exectest is the conformance suite of core.Exec and core.Forker: one
// table of behaviours that every implementation passes (sshx over a real
// sshd, the dry-run Recorder, the simulation of internal/testkit/sim, the
// fakes of the tests), as restic runs one suite over every backend. Each
// implementation's package calls RunExec (RunForker) from a test of its own.
package exectest
