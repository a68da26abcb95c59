//go:build grifork_testhooks

package node

import "os"

// corruptHost is the host named by CorruptEnv.
func corruptHost() string { return os.Getenv(CorruptEnv) }

// slowCommitHost is the host named by SlowCommitEnv.
func slowCommitHost() string { return os.Getenv(SlowCommitEnv) }

// directClosedHosts are the hosts named by DirectClosedEnv.
func directClosedHosts() string { return os.Getenv(DirectClosedEnv) }
