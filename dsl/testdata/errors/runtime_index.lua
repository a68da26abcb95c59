local conf = nil
branches(conf.branches)
