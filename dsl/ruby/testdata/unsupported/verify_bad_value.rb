ssh verify_host_key: :sometimes
