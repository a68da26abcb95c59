package node

// CorruptEnv names a test hook of binaries built with the grifork_testhooks
// tag (internal/testbin builds them; make build does not): the root tells the
// relay on the host it names to flip a byte of its own copy, which must then
// fail its check.
const CorruptEnv = "GRIFORK_TEST_CORRUPT"
