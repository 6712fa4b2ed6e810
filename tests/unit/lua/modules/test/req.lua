local util = require("lib.util")
local again = require("lib.util")
return {
  type = "test.req",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    local ok1, e1 = pcall(require, "os")
    local ok2, e2 = pcall(require, "../etc/passwd")
    local ok3, e3 = pcall(require, "lib.nothere")
    return { same = util == again, double = util.double(21), loads = util.loads,
             os = ok1, os_err = tostring(e1), dots = ok2, dots_err = tostring(e2),
             missing = ok3, missing_err = tostring(e3) }
  end,
  read = function() end,
  delete = function() end,
}
