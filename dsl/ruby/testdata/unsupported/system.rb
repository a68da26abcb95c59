hosts %w(a)
local do
  system('ls')
end
