rsync delete: true, checksum: true
