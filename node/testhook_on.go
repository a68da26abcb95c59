//go:build grifork_testhooks

package node

import "os"

// corruptHost is the host named by CorruptEnv.
func corruptHost() string { return os.Getenv(CorruptEnv) }

// slowCommitHost is the host named by SlowCommitEnv.
func slowCommitHost() string { return os.Getenv(SlowCommitEnv) }

// directClosedHost is the host named by DirectClosedEnv.
func directClosedHost() string { return os.Getenv(DirectClosedEnv) }
