-- a helper for require() tests
local M = {}
M.loads = (M.loads or 0) + 1
function M.double(x) return 2 * x end
return M
