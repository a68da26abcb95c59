hosts [Time.now.to_s]
