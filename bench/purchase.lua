-- wrk script for every bench run. With FLASHSALE_BENCH_PATH set, each request is a
-- purchase by one of the pre-minted buyers (tokens in FLASHSALE_BENCH_TOKENS, one per
-- line: the benchmark mints them with the stack's secret, as a shop's identity provider
-- would), each with a key of its own; without it, wrk's own GET of the URL. Either way
-- it prints the statuses seen and the latency quantiles, which bench/wrk.py merges
-- across the one-second slices of a run.
local path = os.getenv("FLASHSALE_BENCH_PATH")
local run = os.getenv("FLASHSALE_BENCH_RUN") or "r"
local tokens = {}
if path then
  for line in io.lines(os.getenv("FLASHSALE_BENCH_TOKENS")) do
    tokens[#tokens + 1] = line
  end
end

-- With FLASHSALE_BENCH_THREAD_RATE, each wrk thread sends that many requests a second,
-- one every 1/rate s whichever connection is free (a free connection waits for the next
-- slot; slots missed while every connection waited on an answer are caught up, up to a
-- second's worth): a paced load (bench/pipeline_rate.py), where the rate is set, not
-- found. LuaJIT's FFI reads the monotonic clock: wrk's Lua has none finer than seconds.
local thread_rate = tonumber(os.getenv("FLASHSALE_BENCH_THREAD_RATE") or "")
if thread_rate then
  local ffi = require("ffi")
  ffi.cdef([[
    typedef struct { long tv_sec; long tv_nsec; } fs_timespec;
    int clock_gettime(int clock, fs_timespec *ts);
  ]])
  local ts = ffi.new("fs_timespec")
  local CLOCK_MONOTONIC = 1
  local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = 1000 / thread_rate
  local due = nil
  function delay()
    local now = now_ms()
    due = math.max((due or now) + interval, now - 1000)
    return math.max(0, math.floor(due - now))
  end
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local counter = 0
-- Per-status counters are plain globals: wrk copies numbers, not tables, between threads.
local CODES = {200, 201, 304, 400, 401, 404, 405, 409, 410, 413, 422, 429, 500, 502, 503, 504}

if path then
  function request()
    counter = counter + 1
    local token = tokens[(counter * 7919 + id * 104729) % #tokens + 1]
    local headers = {
      ["Authorization"] = "Bearer " .. token,
      ["Idempotency-Key"] = run .. "-" .. id .. "-" .. counter,
      ["Content-Type"] = "application/json",
    }
    return wrk.format("POST", path, headers, '{"quantity":1}')
  end
end

function response(status, headers, body)
  local name = "c" .. status
  _G[name] = (_G[name] or 0) + 1
end

function done(summary, latency, requests)
  local parts = {}
  for _, code in ipairs(CODES) do
    local n = 0
    for _, thread in ipairs(threads) do
      n = n + (thread:get("c" .. code) or 0)
    end
    if n > 0 then
      parts[#parts + 1] = code .. "=" .. n
    end
  end
  io.write("STATUSES " .. table.concat(parts, ",") .. "\n")
  -- Latency (µs) at every half percent, then the tail: enough to merge slices.
  local q = {}
  for i = 1, 199 do
    q[#q + 1] = latency:percentile(i / 2)
  end
  for _, p in ipairs({99.5, 99.9, 99.99}) do
    q[#q + 1] = latency:percentile(p)
  end
  io.write("QUANTILES " .. table.concat(q, ",") .. "\n")
  io.write("COUNTS " .. summary.requests .. " " .. summary.duration .. "\n")
end
