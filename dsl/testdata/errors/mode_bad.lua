mode "forked"
