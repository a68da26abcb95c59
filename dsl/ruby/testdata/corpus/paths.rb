# File.expand_path and Dir.pwd
ROOT = File.expand_path('..', Dir.pwd)
KEY  = File.expand_path('~/.ssh/id_ed25519')

ssh user: 'deploy', keys: [KEY]
hosts ['one', 'two']

local do
  rsync File.expand_path('dist/', ROOT) + '/', '/srv/app/'
  sh :echo, [Dir.pwd]
end
