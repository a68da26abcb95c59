# Griforkfile for :standalone mode: copy an application tree to every host
# The root copies to the 1st generation, then each parent to its children.

#mode :standalone # the default
branches 4
log file: 'tmp/grifork.log', level: 'debug'

# How "parallel" forks (accepted for compatibility)
#parallel :in_processes

# Hosts as an array
hosts ['web1.internal', 'web2.internal', '192.168.10.1', '192.168.10.2']

# ssh options for the ssh helper
#  key authentication:
ssh user: 'deploy', keys: ['path/to/id_ed25519'], passphrase: 'xxx'
#  password authentication:
#ssh user: 'deploy', password: 'xxx'

# rsync options as a hash (defaults to -az --delete)
rsync delete: true, bwlimit: 4096, verbose: false, excludes: [], rsh: nil, dry_run: false

# task run on localhost for each host of the 1st generation
local do
  sh :echo, %W(LOCAL: #{src} => #{dst})
  ssh dst, :mkdir, %W(-p /srv/app)
  rsync '/srv/app/', '/srv/app/'
end

# task run for each later (parent, child) pair
remote do
  sh :echo, %W(REMOTE: #{src} => #{dst})
  ssh dst, :mkdir, %W(-p /srv/app)
  rsync_remote '/srv/app/', '/srv/app/'
end
