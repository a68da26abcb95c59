branches(3)
mode "standalone"
branches(4)
