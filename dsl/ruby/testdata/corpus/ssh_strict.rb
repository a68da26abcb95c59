ssh user: 'ops', verify_host_key: :always, keys: '~/.ssh/ops'
hosts %w(db1 db2)
remote { rsync_remote '/backup/' }
