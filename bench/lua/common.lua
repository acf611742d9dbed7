-- Shared by every bench script: counts answers by status in each thread and prints one JSON
-- line (prefixed WRK_JSON) that bench/loadgen.py reads. The scenario part follows this file.
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

statuses = {}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local per_thread = {}
  for _, thread in ipairs(threads) do
    local codes = {}
    for code, count in pairs(thread:get("statuses")) do
      codes[#codes + 1] = string.format('"%d": %d', code, count)
    end
    per_thread[#per_thread + 1] = "{" .. table.concat(codes, ", ") .. "}"
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "latency_us": {"p50": %f, "p90": %f, ' ..
    '"p99": %f, "max": %f, "mean": %f}, "socket_errors": %d, "statuses": [%s]}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean,
    e.connect + e.read + e.write + e.timeout, table.concat(per_thread, ", ")))
end
