branches(2.5)
