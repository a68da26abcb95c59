ssh { "deploy" }
