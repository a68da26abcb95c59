ssh { user = "deploy", prot = 22 }
