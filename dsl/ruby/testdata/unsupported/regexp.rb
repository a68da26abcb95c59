hosts %w(a)
local do
  sh 'x' if dst =~ /web/
end
