# Every block, with do/end and with braces
mode :grifork
hosts ['n1', 'n2', 'n3', 'n4', 'n5']
grifork { chdir '/opt/app'; tmpdir '/tmp/gf'; exec '/opt/app/bin/grifork'; user 'deploy' }

prepare do
  puts 'preparing'
  sh %(tar czf /tmp/app.tgz -C /opt/app .)
end
prepare_remote { p 'remote node starts' }
local do
  rsync '/tmp/app.tgz', '/tmp/app.tgz'
end
remote do
  rsync '/tmp/app.tgz'
end
finish_remote { sh 'rm', ['-f', '/tmp/app.tgz'] }
finish do
  puts
  puts 'all done', 42
  p 7, nil, true
end
