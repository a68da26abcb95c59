ssh { max_connections = 0 }
