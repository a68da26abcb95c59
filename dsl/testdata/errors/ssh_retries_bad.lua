ssh { retries = 2.5 }
