A = %w(a)
branches 2 if A == %w(a)
