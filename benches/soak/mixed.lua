-- wrk script for the soak run: screenings (POST /v1/screenings, a different supplier
-- each time) and agency searches (GET /v1/search), about two to one. Counts responses by
-- kind: 2xx, 429 (rate limit) and any other status, which the soak treats as a failure.
-- The key comes from the CADENA_KEY environment variable.

local words = { "minera", "textil", "agricola", "transportes", "reclutadora", "servicios", "ficticia",
  "oro", "verde", "andina", "del", "sur", "norte", "global", "laboral", "empleos", "maderas", "cerrado" }
local forms = { "S.A.C.", "S.A.", "LTDA", "E.I.R.L.", "" }
local countries = { "PE", "CO", "BR", "MX", "PY", "EC" }
local threads = {}

local function pick(list) return list[math.random(#list)] end

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  math.randomseed(os.time() + id * 7919)
  ok, limited, failed = 0, 0, 0
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("CADENA_KEY")
end

function request()
  if math.random(3) == 1 then
    local query = pick(words) .. "%20" .. pick(words)
    return wrk.format("GET", "/v1/search?q=" .. query, nil, nil)
  end
  local name = pick(words) .. " " .. pick(words) .. " " .. pick(words) .. " " .. pick(forms)
  local body = string.format('{"supplier":{"supplier_id":"SOAK-%d","name":"%s","country":"%s"}}',
    math.random(1000000000), name, pick(countries))
  -- Headers given here replace wrk.headers, so the key goes in again.
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = wrk.headers["Authorization"] }
  return wrk.format("POST", "/v1/screenings", headers, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  elseif status == 429 then
    limited = limited + 1
  else
    failed = failed + 1
    if failed <= 5 then io.stderr:write("unexpected " .. status .. ": " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local total_ok, total_limited, total_failed = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_limited = total_limited + thread:get("limited")
    total_failed = total_failed + thread:get("failed")
  end
  local socket_errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("requests: %d (%.0f/s); 2xx %d, 429 %d, other statuses %d, socket errors %d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), total_ok, total_limited, total_failed,
    socket_errors))
  io.write(string.format("latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
