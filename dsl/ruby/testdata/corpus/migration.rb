# A realistic deploy: build once, spread down the tree, switch symlinks
APP     = '/srv/shop'
RELEASE = ENV.fetch('RELEASE', 'current')
TARGET  = "#{APP}/releases/#{RELEASE}"

mode :standalone
branches 3
log file: File.expand_path('log/grifork.log'), level: :info
hosts %w(
  shop1.internal shop2.internal shop3.internal
  shop4.internal shop5.internal shop6.internal
)
ssh user: 'deploy', keys: [File.expand_path('~/.ssh/deploy')], verify_host_key: :accept_new
rsync delete: true, excludes: %w(.git tmp/* log/*), verbose: false

prepare do
  sh %(cd #{APP} && make build)
end

local do
  ssh dst, :mkdir, %W(-p #{TARGET})
  rsync "#{APP}/build/", "#{TARGET}/"
  ssh dst, :ln, %W(-sfn #{TARGET} #{APP}/current)
end

remote do
  ssh dst, :mkdir, %W(-p #{TARGET})
  rsync_remote "#{TARGET}/"
  ssh dst, :ln, %W(-sfn #{TARGET} #{APP}/current)
end

finish do
  puts "released #{RELEASE} to #{TARGET}"
end
