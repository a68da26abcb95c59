if ENV['A']
  list = %w(a b)
end
hosts list
