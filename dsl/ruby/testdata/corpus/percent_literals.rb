# Every %-literal form the converter knows
mode :grifork
hosts %w(web1 web2
         web3)
rsync %w[-az --delete --exclude=.git]
APP = %q{/srv/my app}
DEST = %Q</srv/#{'dest'}>
NAMES = %i(alpha beta)

local do
  sh %(cd #{APP} && tar czf /tmp/app.tgz .)
  ssh dst, :mkdir, %W(-p #{DEST} #{DEST}/logs --mode=#{755})
  sh :echo, %W{#{src}->#{dst} with\ space}
  sh :echo, %w<a b>
  sh :echo, NAMES
end
