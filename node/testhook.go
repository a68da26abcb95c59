package node

// CorruptEnv names a test hook of binaries built with the grifork_testhooks
// tag (internal/testkit/testbin builds them; make build does not): the root tells the
// relay on the host it names to flip a byte of its own copy, which must then
// fail its check.
const CorruptEnv = "GRIFORK_TEST_CORRUPT"

// SlowCommitEnv names a test hook of the same binaries: the relay on the host
// it names pauses slowCommit after each path it commits, so that a test can
// stop the run during a commit.
const SlowCommitEnv = "GRIFORK_TEST_SLOW_COMMIT"

// DirectClosedEnv names a test hook of the same binaries: the root tells the
// parent of each host it names (comma-separated) that the host's relay
// listens on closedPort for its direct stream, so the parent's dial fails and
// it takes the SSH forward.
const DirectClosedEnv = "GRIFORK_TEST_DIRECT_CLOSED"

// closedPort is a TCP port nothing listens on in the test fleet (tcpmux).
const closedPort = 1
