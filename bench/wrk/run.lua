-- wrk script for bench/http_runs.py: POST a flow run as the Node SDK sends it.
-- IDFLOW_BENCH_FLOW names the flow, IDFLOW_BENCH_AUTH is the bearer, and
-- IDFLOW_BENCH_USERS > 0 spreads the runs over that many users (bench-<n>@...),
-- so the *disable* workload changes a user that is still enabled. Each wrk
-- invocation starts at user IDFLOW_BENCH_FIRST, and prints the first user it
-- left untouched, so the next invocation does not disable a user again (a
-- user already disabled makes a cheaper run: no write, no audit event).
local flow = os.getenv("IDFLOW_BENCH_FLOW")
local users = tonumber(os.getenv("IDFLOW_BENCH_USERS") or "0")
local first = tonumber(os.getenv("IDFLOW_BENCH_FIRST") or "0")
local stride = tonumber(os.getenv("IDFLOW_BENCH_THREADS") or "1")
local counter = 0
local threads = {}

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("IDFLOW_BENCH_AUTH")

local fixed = string.format(
  '{"flowId":"%s","options":{"input":{"userId":"U123","daysInactive":120}}}', flow)

function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

-- Global, so that done() can read each thread's count.
sent = 0
function request()
  if users == 0 then
    return wrk.format(nil, nil, nil, fixed)
  end
  -- Each wrk thread walks its own residue class, so no two threads share a user.
  local n = (first + offset + sent * stride) % users
  sent = sent + 1
  return wrk.format(nil, nil, nil, string.format(
    '{"flowId":"%s","options":{"input":{"userId":"bench-%d@example.com","daysInactive":120}}}',
    flow, n))
end

function done(summary, latency, requests)
  local most = 0
  for _, thread in ipairs(threads) do
    most = math.max(most, thread:get("sent"))
  end
  io.write(string.format("idflow-bench-next-user: %d\n", first + most * stride))
end
