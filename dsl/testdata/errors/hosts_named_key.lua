hosts { "web1", user = "deploy" }
