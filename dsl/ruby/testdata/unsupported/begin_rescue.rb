local do
  begin
    sh 'x'
  rescue => e
    p e
  end
end
