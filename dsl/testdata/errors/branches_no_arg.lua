branches()
