-- wrk script of the benchmark (bench/load.py runs it): which request to send, and a JSON summary at the end.
--
-- Configured by environment variables, read when the script loads (wrk decides then whether requests are
-- generated per call or sent as one fixed request):
--   BENCH_MODE    static: the URL as given | ids: BENCH_PREFIX .. id, ids rotating over 1..BENCH_MAX_ID
--                 | signup: POST /users with a unique email per request (BENCH_TAG keeps runs apart)
-- Every response outside 200..299 is counted; done() prints one line "BENCH_RESULT {json}".

local mode = os.getenv("BENCH_MODE") or "static"
local prefix = os.getenv("BENCH_PREFIX") or "/"
local max_id = tonumber(os.getenv("BENCH_MAX_ID") or "1")
local tag = os.getenv("BENCH_TAG") or "run"
local stride = 7919 -- a prime: consecutive requests hit ids far apart, every id is visited

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

non2xx = 0
local n = 0

function init(args)
   n = thread_index * 1000003
end

if mode == "ids" then
   function request()
      n = n + 1
      return wrk.format("GET", prefix .. ((n * stride) % max_id + 1))
   end
elseif mode == "signup" then
   local headers = { ["Content-Type"] = "application/json" }
   function request()
      n = n + 1
      local body = string.format(
         '{"name":"Bench user %d","email":"bench-%s-%d-%d@example.com","password":"bench password %d"}',
         n, tag, thread_index, n, n)
      return wrk.format("POST", "/users", headers, body)
   end
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
end

function done(summary, latency, requests)
   local bad = 0
   for _, thread in ipairs(threads) do
      bad = bad + (thread:get("non2xx") or 0)
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.bytes, bad, errors.connect, errors.read, errors.write,
      errors.timeout, math.floor(latency:percentile(50)), math.floor(latency:percentile(90)),
      math.floor(latency:percentile(99)), math.floor(latency.max), latency.mean))
end
