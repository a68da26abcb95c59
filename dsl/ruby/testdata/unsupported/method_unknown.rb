hosts %w(a)
local do
  notify 'x'
end
