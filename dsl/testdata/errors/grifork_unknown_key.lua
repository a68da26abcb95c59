grifork { dir = "/srv" }
