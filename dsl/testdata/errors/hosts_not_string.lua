hosts { "web1", 2 }
