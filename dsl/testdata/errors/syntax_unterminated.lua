hosts { "web1 }
