-- wrk script for bench/http_verification.py.
--
--   wrk -t2 -c16 -d20s --latency -s bench/http_verification.lua http://127.0.0.1:PORT -- PATHS
--
-- PATHS holds one request path per line (/healthz, /S/<code> or /api/v1/verify?q=…). Each
-- wrk thread walks the list round-robin from its own starting point, so the scans spread
-- over every stamp in the file. The requests are formatted once, in init(): the per-request
-- cost in wrk stays a table lookup.
--
-- response() counts the answers by status class in each thread; done() adds them up and
-- prints one line the benchmark parses:
--
--   WRK_RESULT requests=… ok=… redirect=… other=… connect=… read=… write=… status=…
--              timeout=… duration_us=… p50_us=… p90_us=… p99_us=… max_us=… mean_us=…
--
-- ok counts 2xx answers: the checks the server answered, each of which must be a row in
-- the scans table. Requests still in flight when the run stops are in none of the counts.

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("id", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

local requests = {}
local position = 1

function init(args)
   local headers = {
      ["User-Agent"] = "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 "
         .. "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
      ["Accept-Language"] = "vi-VN,vi;q=0.9",
   }
   local file = assert(io.open(args[1], "r"))
   for line in file:lines() do
      if #line > 0 then
         requests[#requests + 1] = wrk.format("GET", line, headers)
      end
   end
   file:close()
   assert(#requests > 0, "no paths in " .. args[1])
   -- Threads start far apart in the list (a prime stride), not on the same stamp.
   position = (id * 7919) % #requests + 1
   ok, redirect, other = 0, 0, 0
end

function request()
   local r = requests[position]
   position = position % #requests + 1
   return r
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
   elseif status >= 300 and status < 400 then
      redirect = redirect + 1
   else
      other = other + 1
   end
end

function done(summary, latency, requests)
   local sums = { ok = 0, redirect = 0, other = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(sums) do
         sums[name] = sums[name] + (thread:get(name) or 0)
      end
   end
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT requests=%d ok=%d redirect=%d other=%d connect=%d read=%d write=%d "
         .. "status=%d timeout=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d "
         .. "mean_us=%.1f\n",
      summary.requests, sums.ok, sums.redirect, sums.other, e.connect, e.read, e.write,
      e.status, e.timeout, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean
   ))
end
