hosts { "web1:99999" }
