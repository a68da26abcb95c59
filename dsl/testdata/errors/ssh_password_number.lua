ssh { password = 1234 }
