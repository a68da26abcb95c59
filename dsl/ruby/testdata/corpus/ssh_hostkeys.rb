# Host key checking switched off, the old way, plus a known_hosts file
ssh user: 'deploy',
    password: 's3cret',         # password authentication
    port: 2222,
    timeout: 5,
    paranoid: false,
    user_known_hosts_file: '/etc/grifork/known_hosts'
hosts ['10.0.0.1', '10.0.0.2']
local do
  rsync '/srv/app/'
end
