hosts %w(a)
local do
  out = `hostname`
end
