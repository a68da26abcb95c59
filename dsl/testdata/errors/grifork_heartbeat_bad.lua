grifork { heartbeat_timeout = 0 }
