parallel "in_fibers"
