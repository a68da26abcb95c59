prepare do
  sh :echo, [src]
end
