#!/usr/bin/env ruby
# Layout: comments, continuations, semicolons, =begin blocks, __END__
=begin
This block comment
spans lines
=end
branches 2; mode :standalone   # two on one line
hosts [
  # the web tier
  'w1', # first
  'w2',
]
log \
  file: 'x.log'


local do

  # nothing but rsync
  rsync '/srv/'   # trailing
end
__END__
this is data, not code
