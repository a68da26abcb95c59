ssh user: 'root', verify_host_key: :never
hosts %w(lab1 lab2)
local { sh 'hostname' }
