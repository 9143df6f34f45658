-- wrk script: request the paths listed in a file (one per line), rotating.
-- Usage: wrk -s rotate.lua http://127.0.0.1:PORT/ -- urls.txt
-- Each thread starts at a different offset. done() prints one BENCH_JSON line.
-- Requests are formatted once, in init: formatting each one in request() would add
-- the load tool's Lua work to every request (about 4 us of CPU each here).

local paths = {}  -- whole HTTP requests, one per path
local n = 0
local pos = 0
local thread_count = 0

function setup(thread)
  thread:set("offset", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      n = n + 1
      paths[n] = wrk.format("GET", line)
    end
  end
  if n == 0 then
    error("no paths in " .. args[1])
  end
  pos = ((offset or 0) * 7919) % n
end

function request()
  pos = pos % n + 1
  return paths[pos]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
