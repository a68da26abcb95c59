-- Ad-hoc fleet command: collect one value from every host and print a table.
-- The ssh helper returns the command's standard output.

branches(8)
hosts { "web[01-16].internal", "db[1-3].internal" }
ssh { user = "ops", host_key_check = "strict" }

local uptimes = {}                        -- shared by all tasks; they run concurrently

-- pcall keeps an unreachable host in the table as an error row instead of
-- failing its task (and skipping its subtree).
local function collect(dst)
  local ok, out = pcall(ssh, dst, "uptime")
  uptimes[dst] = ok and trim(out) or ("error: " .. tostring(out))
end

locally(function(src, dst) collect(dst) end)
remote(function(src, dst) collect(dst) end)

finish(function(report)
  local names = {}
  for host in pairs(uptimes) do names[#names + 1] = host end
  table.sort(names)
  for _, host in ipairs(names) do
    print(string.format("%-24s %s", host, uptimes[host]))
  end
end)
