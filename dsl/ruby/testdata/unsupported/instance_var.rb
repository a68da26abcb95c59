@hosts = %w(a)
