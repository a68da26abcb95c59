# Griforkfile for :grifork mode: every node runs grifork for its own subtree
# See the README for the DSL

# Configuration
#mode :grifork
branches 4
log file: 'tmp/grifork.log', level: 'debug'

#parallel :in_processes

# ssh options for ssh and for starting grifork on children
ssh user: 'deploy', keys: ['path/to/id_ed25519'], passphrase: 'xxx'

# How to run grifork on remote nodes (implies mode :grifork)
grifork do
  chdir  '/srv/app'
  tmpdir '/tmp/grifork'
  exec   '/usr/local/bin/grifork'
end

hosts ['web1.internal', 'web2.internal', '192.168.10.1', '192.168.10.2']

rsync delete: true, bwlimit: 4096, verbose: false, excludes: [], rsh: nil, dry_run: false

# on the root, toward each child
local do
  sh :echo, %W(LOCAL: #{src} => #{dst})
  ssh dst, :mkdir, %W(-p /srv/app)
  rsync '/srv/app/', '/srv/app/'
end

# on every remote node, toward its own children
# NOTE: in :grifork mode this runs as the "local" task of the remote node
remote do
  sh :echo, %W(REMOTE: #{src} => #{dst})
  ssh dst, :mkdir, %W(-p /srv/app)
  rsync '/srv/app/', '/srv/app/'
end
