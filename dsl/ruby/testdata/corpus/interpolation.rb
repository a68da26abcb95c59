# Strings: escapes, interpolation of numbers and booleans, adjacent literals
PORT = 8080
ON = true
hosts ["web-#{1}", "web-#{1 + 1}", 'web-' "3"]

local do
  sh :echo, ["port=#{PORT} on=#{ON} none=#{nil} tab=\t quote=\" hash=\#{x} #{"nested #{dst}"}"]
  sh :echo, ['single \n stays', "unicode ✓ \u00e9 \x41"]
  sh :printf, ["%s\\n", "#{PORT}"]
  puts 'it''s' " ok"
  puts 'P' * 3
  puts PORT + 1
end
