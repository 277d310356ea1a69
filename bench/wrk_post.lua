-- POSTs one fixed, signed body; records every 2xx's execution_id to a file per thread and
-- prints latency percentiles and counts as one JSON line at the end.
-- Environment: BENCH_BODY_FILE, BENCH_SIGNATURE (may be empty), BENCH_IDS_DIR.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  local signature = os.getenv("BENCH_SIGNATURE")
  if signature and signature ~= "" then
    wrk.headers["X-Hub-Signature-256"] = signature
  end
  ids = assert(io.open(os.getenv("BENCH_IDS_DIR") .. "/ids-" .. id .. ".txt", "w"))
  ok = 0
  statuses = {}
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    local execution_id = string.match(body, '"execution_id": ?"([%x%-]+)"')
    if execution_id then ids:write(execution_id, "\n"); ids:flush() end
  else
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local ok_total = 0
  for _, thread in ipairs(threads) do ok_total = ok_total + thread:get("ok") end
  -- The latency distribution as percentiles 0.1, 0.2, ... 100 (microseconds), from which
  -- bench/webhooks.py merges several runs into one distribution.
  local cdf = {}
  for i = 1, 1000 do cdf[i] = string.format("%d", latency:percentile(i / 10)) end
  io.write('{"cdf_us": [' .. table.concat(cdf, ", ") .. ']}\n')
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "ok": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"timeouts": %d, "non_2xx": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, ok_total, summary.errors.connect, summary.errors.read,
    summary.errors.timeout, summary.errors.status, latency:percentile(50),
    latency:percentile(99), latency.max))
end
