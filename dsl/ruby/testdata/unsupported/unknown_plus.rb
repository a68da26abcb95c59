local do
  x = ENV.fetch('A', 1)
  sh 'echo ' + x.to_s
  sh x + 'y'
end
