local { "web1" }
