# Loops over arrays
DIRS = %w(releases shared logs)
hosts %w(a b)

prepare do
  DIRS.each do |d|
    sh :mkdir, ['-p', "/tmp/stage/#{d}"]
  end
end

local do
  DIRS.each { |d| ssh dst, :mkdir, %W(-p /srv/app/#{d}) }
  [1, 2].each do |n|
    sh :echo, ["pass #{n}"]
  end
  %w(x y).each do
    sh 'true'
  end
end
