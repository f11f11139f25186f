-- wrk script: POST pre-signed webhook bodies in turn. Line format: <signature>\t<body>.
local sigs, bodies, n, i = {}, {}, 0, 0

function init(args)
  for line in io.lines(args[1]) do
    local sig, body = line:match("^(%S+)\t(.*)$")
    n = n + 1
    sigs[n], bodies[n] = sig, body
  end
  wrk.method = "POST"
end

function request()
  i = i % n + 1
  return wrk.format(nil, nil, {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = sigs[i],
  }, bodies[i])
end
