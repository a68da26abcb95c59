branches "four"
