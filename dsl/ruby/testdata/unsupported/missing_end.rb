local do
  rsync '/x/'
