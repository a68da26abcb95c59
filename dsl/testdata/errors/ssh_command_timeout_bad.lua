ssh { command_timeout = -5 }
