-- wrk script: 16 requests pipelined per write, as ../shared/bench/peers.sh sends them.
local depth = 16
init = function(args)
  local r = {}
  for i = 1, depth do r[i] = wrk.format() end
  req = table.concat(r)
end
request = function() return req end
