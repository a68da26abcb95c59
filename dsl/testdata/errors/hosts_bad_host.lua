hosts { "web1", "a b" }
