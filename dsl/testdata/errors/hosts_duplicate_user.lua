hosts { "web1", "deploy@web1" }
