local do |h|
  rsync '/x/'
end
