hosts %w(a b)

def helper
  'x'
end
