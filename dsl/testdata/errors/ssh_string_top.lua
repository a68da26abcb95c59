ssh("web1", "uptime")
