-- wrk script of the soak bench: a mix of signups, logins, session checks and plugin calls.
-- Globals set by the bench through the environment: A2E_SOAK_SESSION (a session token),
-- A2E_SOAK_EMAIL and A2E_SOAK_PASSWORD (the account the session belongs to).
local session = os.getenv("A2E_SOAK_SESSION")
local email = os.getenv("A2E_SOAK_EMAIL")
local password = os.getenv("A2E_SOAK_PASSWORD")
local only = os.getenv("A2E_SOAK_ONLY")
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  statuses = {}
end

function request()
  counter = counter + 1
  local k = counter % 20
  if only == "signup" then k = 0 elseif only == "login" then k = 1 elseif only == "session" then k = 2 elseif only == "call" then k = 13 end
  local json = { ["Content-Type"] = "application/json" }
  if k == 0 then
    local name = "s" .. id .. "x" .. counter
    return wrk.format("POST", "/api/auth/signup", json,
      '{"name":"' .. name .. '","email":"' .. name .. '@soak.example","password":"correct horse battery"}')
  elseif k == 1 then
    return wrk.format("POST", "/api/auth/login", json, '{"email":"' .. email .. '","password":"' .. password .. '"}')
  elseif k <= 12 then
    return wrk.format("GET", "/api/auth/session", { ["Cookie"] = "a2e_session=" .. session })
  else
    return wrk.format("POST", "/api/plugins/template/call/greet",
      { ["Authorization"] = "Bearer " .. session, ["Content-Type"] = "application/json" }, '{"name":"soak"}')
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do
      total[code] = (total[code] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(total) do
    table.insert(parts, code .. "=" .. n)
  end
  table.sort(parts)
  io.write("STATUSES " .. table.concat(parts, " ") .. "\n")
  io.write(string.format("P50_US %d\nP99_US %d\n", latency:percentile(50), latency:percentile(99)))
end
