hosts %w(a)
prepare do
  sh <<~SH
    echo hi
  SH
end
