branches "4"
