%w(a b).each_with_index do |h, i|
  puts h
end
