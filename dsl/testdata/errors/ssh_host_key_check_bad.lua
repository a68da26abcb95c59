ssh { host_key_check = "yes" }
