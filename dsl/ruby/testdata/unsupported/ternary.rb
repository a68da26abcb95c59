STAGE = 'x'
branches STAGE == 'prod' ? 4 : 2
