# rsync options as an array
EXCLUDE = '.git'
rsync ['-az', '--delete', "--exclude=#{EXCLUDE}", '--bwlimit=' + '4096']
hosts %w(r1 r2)
local { rsync '/srv/app/' }
