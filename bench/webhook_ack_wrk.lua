-- wrk script for bench/webhook_ack.py: each wrk thread replays its own file of pre-built,
-- distinct, signed and encrypted WeCom callbacks (raw HTTP requests separated by NUL bytes),
-- so no MsgId is sent twice. Running out wraps around and is counted: the bench flags it.
--   wrk -t N -c C -d Ds -s webhook_ack_wrk.lua http://127.0.0.1:PORT -- /path/prefix
-- thread i reads "<prefix>.<i>".

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local f = assert(io.open(args[1] .. "." .. id, "rb"))
   local data = f:read("*a")
   f:close()
   reqs = {}
   local pos = 1
   while true do
      local stop = string.find(data, "\0", pos, true)
      if not stop then break end
      reqs[#reqs + 1] = string.sub(data, pos, stop - 1)
      pos = stop + 1
   end
   idx = 0
   wrapped = 0
   statuses = 0   -- non-200 answers seen by this thread
end

function request()
   idx = idx + 1
   if idx > #reqs then
      idx = 1
      wrapped = wrapped + 1
   end
   return reqs[idx]
end

function response(status, headers, body)
   if status ~= 200 then
      statuses = statuses + 1
   end
end

function done(summary, latency, requests)
   local wraps, bad = 0, 0
   for _, t in ipairs(threads) do
      wraps = wraps + t:get("wrapped")
      bad = bad + t:get("statuses")
   end
   local e = summary.errors
   io.write(string.format(
      "WRKRESULT requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d status=%d " ..
      "non200=%d wraps=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
      bad, wraps, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
