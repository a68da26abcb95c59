branches(2)
error({ code = 1 })
