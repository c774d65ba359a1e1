-- GET a random path of BENCH_PATHS (one per line) with the bearer token BENCH_TOKEN.
local paths = {}
local headers = { ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN") }

function init(args)
  for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
  math.randomseed(os.time() * 1000 + #tostring({}))
end

function request()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end

dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
