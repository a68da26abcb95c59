# Helpers in every form they are written
hosts %w(h1 h2)

local do
  sh :echo, ['plain args']
  sh 'echo "through a shell" | tee /tmp/x'
  sh %(cd /srv && ls -l)
  sh('ls', ['-la', '/srv'])
  sh :rsync,
     ['-az',
      '/srv/app/',
      "#{dst.hostname}:/srv/app/"]
  ssh dst, :uptime, []
  ssh(dst.hostname, 'df', %W(-h /srv))
  ssh src, :echo, ["from #{src.hostname} to #{dst}"]
  rsync '/srv/a/', '/srv/b/'
  sh "date >> /tmp/log", []
  sh 'uptime', %w()
end

remote do
  rsync_remote '/srv/app/', '/srv/app/'
  rsync_remote('/srv/conf/')
end
