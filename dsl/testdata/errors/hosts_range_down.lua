hosts { "web[5-1]" }
