hosts { "web[1-3" }
