{ a: 1 }.each do |k, v|
  puts k
end
