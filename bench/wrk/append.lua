-- POST a score_update to a random KPI of BENCH_PATHS (lines: "<journal path> <percentage|rating>").
local targets = {}
local headers = {
  ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN"),
  ["Content-Type"] = "application/json",
}
local body = '{"entry_type":"score_update","title":"Monthly check-in",'
  .. '"content":"Talked through the month; steady progress on the agreed goals.","score":%s}'

function init(args)
  for line in io.lines(os.getenv("BENCH_PATHS")) do
    local path, kind = line:match("^(%S+)%s+(%S+)$")
    targets[#targets + 1] = { path = path, rating = kind == "rating" }
  end
  math.randomseed(os.time() * 1000 + #tostring({}))
end

function request()
  local t = targets[math.random(#targets)]
  local score
  if t.rating then score = string.format("%.1f", 1 + math.random() * 4)
  else score = string.format("%.1f", 40 + math.random() * 60) end
  return wrk.format("POST", t.path, headers, string.format(body, score))
end

dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
