hosts { "a" }
hosts { "b" }
