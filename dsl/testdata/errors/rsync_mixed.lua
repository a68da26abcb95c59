rsync { "-az", delete = true }
