log { file = "g.log", level = "verbose" }
