-- wrk script: each request a purchase by one of the pre-minted buyers, each with a key
-- of its own. Tokens come from the file in FLASHSALE_BENCH_TOKENS (one per line: the
-- benchmark mints them with the stack's secret, as a shop's identity provider would).
local path = os.getenv("FLASHSALE_BENCH_PATH")
local tokens = {}
for line in io.lines(os.getenv("FLASHSALE_BENCH_TOKENS")) do
  tokens[#tokens + 1] = line
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local counter = 0
local statuses = {}

function request()
  counter = counter + 1
  local token = tokens[(counter * 7919 + id * 104729) % #tokens + 1]
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = "w" .. id .. "-" .. counter,
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", path, headers, '{"quantity":1}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do
      totals[code] = (totals[code] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(totals) do
    parts[#parts + 1] = code .. "=" .. n
  end
  io.write("STATUSES " .. table.concat(parts, ",") .. "\n")
end
