A = %w(a b)
puts "hosts: #{A}"
