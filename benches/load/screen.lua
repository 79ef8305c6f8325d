-- wrk script: POST /v1/screenings with a different supplier in every request, so that
-- every screening is computed (no cache hits) and stored in the audit trail.
-- The key comes from the CADENA_KEY environment variable.

local syllables = { "ka", "to", "ri", "men", "sa", "lo", "ver", "an", "mar", "tex", "co", "pro", "gen", "tri",
  "nor", "vi", "la", "no", "ba", "ra", "pe", "do", "ti", "mon", "sol", "lu", "cor", "fin", "ag", "ro", "ma", "ne" }
local sectors = { "Minera", "Textil", "Agricola", "Transportes", "Maderas", "Servicios", "Comercial", "Electronics" }
local forms = { "S.A.C.", "S.A.", "LTDA", "E.I.R.L.", "S.A. de C.V.", "GmbH", "" }
local countries = { "PE", "CO", "BR", "MX", "PY", "EC" }

local function pick(list) return list[math.random(#list)] end

local function word()
  local w = pick(syllables) .. pick(syllables)
  if math.random(2) == 1 then w = w .. pick(syllables) end
  return w:sub(1, 1):upper() .. w:sub(2)
end

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  math.randomseed(os.time() + id * 7919)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("CADENA_KEY")
end

function request()
  local name = pick(sectors) .. " " .. word() .. " " .. word() .. " " .. pick(forms)
  local body = string.format(
    '{"supplier":{"supplier_id":"W-%d","name":"%s","country":"%s"}}', math.random(1000000000), name, pick(countries))
  return wrk.format(nil, "/v1/screenings", nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("requests: %d, errors (non-2xx or socket): %d, %.0f requests/s\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.requests / (summary.duration / 1e6)))
  io.write(string.format("latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
