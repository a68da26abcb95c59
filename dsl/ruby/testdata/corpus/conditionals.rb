# Conditions: modifiers and if/elsif/else
STAGE = ENV.fetch('STAGE', 'production')
verbose = ENV['VERBOSE'] == '1'

log file: 'grifork.log', level: 'debug' if verbose
branches 8 unless STAGE == 'production'

if STAGE == 'production'
  hosts %w(prod1 prod2 prod3)
elsif STAGE == 'staging' || STAGE == 'qa'
  hosts %w(stage1)
else
  hosts %w(dev1)
end

local do
  skip = nil
  skip = 'yes' if dst == 'prod3'
  unless skip
    rsync '/srv/app/'
  else
    puts "skipping #{dst}"
  end
  sh 'sync' if !verbose && skip.nil?
  sh 'true' if not verbose and STAGE != 'qa'
  sh 'date' unless STAGE.empty? or verbose
  if verbose then puts 'done' end
  note = 'first' if dst.hostname == 'prod1'
  puts note
end
