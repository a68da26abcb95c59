case ENV['X']
when 'a' then branches 2
end
