ssh { keys = 42 }
