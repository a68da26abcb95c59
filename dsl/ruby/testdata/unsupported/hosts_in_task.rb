local do
  hosts %w(a)
end
