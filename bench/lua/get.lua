-- GET a path; "{id}" in it becomes a random integer in [low, high] on every request.
-- args: API key ("-" for none), path, low, high.
function init(args)
  headers = {}
  if args[1] ~= "-" then headers["X-API-Key"] = args[1] end
  path = args[2]
  low, high = tonumber(args[3] or 0), tonumber(args[4] or 0)
  math.randomseed(os.time() + thread_index * 7919)
end

function request()
  local target = path
  if string.find(path, "{id}", 1, true) then
    target = string.gsub(path, "{id}", tostring(math.random(low, high)))
  end
  return wrk.format("GET", target, headers)
end
