-- wrk script of the service benchmarks (benchmarks/service_load.py).
--
--   wrk -t1 -c16 -d10s -s benchmarks/wrk_report.lua URL [-- BODY_FILE]
--
-- With a BODY_FILE argument every request is a POST of that file's bytes as application/json
-- (e.g. the seed gradient request); without one, a GET. When the run ends, one line
-- "WRK_JSON {...}" reports the counts and the latency percentiles in microseconds, for the
-- Python side to parse (wrk's own text rounds and prints only p50/p75/p90/p99).

init = function(args)
   local path = args[1]
   if path ~= nil and path ~= "" then
      local file = assert(io.open(path, "rb"))
      wrk.body = file:read("*a")
      file:close()
      wrk.method = "POST"
      wrk.headers["Content-Type"] = "application/json"
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d, "mean_us": %.1f, "max_us": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
      e.timeout, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9)))
end
