hosts { "web[a-c]" }
