# Environment variables
user = ENV['DEPLOY_USER'] || 'deploy'
key  = ENV.fetch('DEPLOY_KEY', '~/.ssh/id_ed25519')
app  = ENV.fetch('APP_DIR')

ssh user: user, keys: [key], port: ENV.fetch('SSH_PORT', 22)
hosts %w(h1 h2)

local do
  sh :echo, ["deploying #{app} as #{user}", ENV['RELEASE'].to_s]
  rsync app + '/' if ENV.key?('APP_DIR')
  puts "HOME is #{ENV['HOME']}"
end
