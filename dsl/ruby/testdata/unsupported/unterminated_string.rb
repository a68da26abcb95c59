hosts ['a', 'b]
