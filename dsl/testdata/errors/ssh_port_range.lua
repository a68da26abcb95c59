ssh { port = 70000 }
