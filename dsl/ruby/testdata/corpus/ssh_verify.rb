# net-ssh's newer option name; harmless options get a comment
ssh(
  user: 'deploy',
  keys: %w(~/.ssh/id_ed25519 ~/.ssh/id_rsa),
  verify_host_key: :accept_new,
  user_known_hosts_file: ['~/.ssh/known_hosts.fleet'],
  compression: true,
  keepalive: true,
)
hosts %w(n1 n2 n3)
local { rsync '/data/' }
