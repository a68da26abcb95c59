branches(0)
