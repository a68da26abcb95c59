# Constants and local variables used later
APP      = '/srv/app'
SHARED   = APP + '/shared'
HOSTS    = %w(app1 app2 app3)
EXCLUDES = ['.git', 'log/*']
per_node = 2
per_node += 1
label = 'release'
label += '-' + 'v2'
owner = nil
owner ||= 'deploy'

branches per_node
hosts HOSTS
rsync excludes: EXCLUDES, delete: true

local do
  target = SHARED + '/' + label
  ssh dst, :mkdir, ['-p', target]
  rsync APP + '/', target + '/'
  sh :chown, ['-R', owner, target]
end

remote do
  rsync_remote "#{APP}/", SHARED + "/#{label}/"
end
