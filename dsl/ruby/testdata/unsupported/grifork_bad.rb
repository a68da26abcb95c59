grifork do
  chdir '/x'
  timeout 5
end
