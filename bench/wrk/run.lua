-- wrk script for bench/http_runs.py: POST a flow run as the Node SDK sends it.
-- IDFLOW_BENCH_FLOW names the flow, IDFLOW_BENCH_AUTH is the bearer, and
-- IDFLOW_BENCH_USERS > 0 spreads the runs over that many users (bench-<n>@...),
-- so the *disable* workload changes a user that is still enabled.
local flow = os.getenv("IDFLOW_BENCH_FLOW")
local users = tonumber(os.getenv("IDFLOW_BENCH_USERS") or "0")
local counter = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("IDFLOW_BENCH_AUTH")

local fixed = string.format(
  '{"flowId":"%s","options":{"input":{"userId":"U123","daysInactive":120}}}', flow)

function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end

local sent = 0
function request()
  if users == 0 then
    return wrk.format(nil, nil, nil, fixed)
  end
  -- Each wrk thread walks its own residue class, so no two threads share a user.
  sent = sent + 1
  local n = (offset + sent * 2) % users
  return wrk.format(nil, nil, nil, string.format(
    '{"flowId":"%s","options":{"input":{"userId":"bench-%d@example.com","daysInactive":120}}}',
    flow, n))
end
