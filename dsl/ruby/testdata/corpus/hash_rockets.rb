# Hashes with rockets, string keys, parentheses and braces
mode(:standalone)
parallel :in_threads
branches(3)
log :file => 'grifork.log', 'level' => :info
hosts(['a.internal', 'b.internal'])
ssh({ :user => 'deploy', 'port' => 2222 })
rsync(
  :delete => false,
  :excludes => ['.git', 'tmp/*'],
  :bwlimit => 1024,
)

remote { rsync_remote('/srv/app/') }
local { rsync '/srv/app/' }
