ssh { timeout = -1 }
