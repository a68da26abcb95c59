rsync { "-az", 5 }
