mode "grifork"
mode "grifork"
