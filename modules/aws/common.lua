-- aws.common: what every AWS module shares (require("aws.common")).
--
--  * query(ctx, service, version, action, params, opts): one call of the
--    Query protocol (EC2, RDS, ElastiCache): a form-encoded POST signed with
--    SigV4 by the C side, the XML answer decoded (the root's value). AWS
--    errors, in EC2's <Response><Errors><Error> shape or in RDS and
--    ElastiCache's <ErrorResponse><Error> shape, are raised as
--    error({code=, message=, status=}); a transport failure (no answer
--    after the C side's retries) as code "RequestFailed" with ambiguous=true.
--  * query_all(ctx, calls, tolerate), ec2_all: several calls at the same
--    time (cairn.http.request_all), for reads that need more than one call
--    per object; errors with a tolerated code come back per call instead of
--    being raised; ec2_items follows the further pages of such an answer.
--  * json_call(ctx, service, method, path, body, opts): REST-JSON (EKS);
--    errors from the x-amzn-ErrorType header and the body's "message".
--  * helpers for tags, filters, pagination, waiters and error codes, and
--    k8s_steps / k8s_downgrade (the minor versions of an EKS upgrade).
--
-- Retries, backoff, throttling and signing are the C side's: nothing here
-- re-sends a request. A request is marked idempotent (safe to re-send after an
-- ambiguous failure) for Describe*/List*/Get* and when the caller says so
-- (a ClientToken, or an operation whose repetition is harmless).
local M = {}

local json, xml, url = cairn.json, cairn.xml, cairn.url

M.EC2_VERSION = "2016-11-15"

-- tag keys cairn puts on every object it makes
M.TAG_STACK, M.TAG_ENV, M.TAG_ADDRESS, M.TAG_TOKEN = "cairn:stack", "cairn:env", "cairn:address", "cairn:token"

-- The endpoint and region for a service. provider.endpoint is a URL (one
-- endpoint for every service, like cairn sim) or a table service -> URL.
function M.endpoint(ctx, service)
  local p = ctx.provider or {}
  local region = p.region
  if type(region) ~= "string" or region == "" then
    error("the provider has no region (set provider.region in the environment's overlay)")
  end
  local ep = p.endpoint
  if type(ep) == "table" then ep = ep[service] end
  if type(ep) == "string" and ep ~= "" then
    if not ep:match("/$") then ep = ep .. "/" end
    return ep, region
  end
  return ("https://%s.%s.amazonaws.com/"):format(service, region), region
end

local function read_only_action(action)
  return action:match("^Describe") or action:match("^List") or action:match("^Get") or false
end

-- An error value: a table that error() carries and cairn formats as "code: message".
local function aws_error(code, message, extra)
  local e = { code = code, message = message }
  for k, v in pairs(extra or {}) do e[k] = v end
  return setmetatable(e, { __tostring = function(t) return t.code .. ": " .. t.message end })
end
M.error = aws_error

-- The code of a caught error, or nil for errors that are not AWS's.
function M.code(err)
  if type(err) == "table" then return err.code end
  return nil
end

-- Does err carry one of the codes? A code may end in "*" (prefix match,
-- "Throttl*") or start with it (suffix match, "*.Malformed").
function M.is(err, ...)
  local c = M.code(err)
  if not c then return false end
  for _, want in ipairs({ ... }) do
    if want:sub(-1) == "*" then
      if c:sub(1, #want - 1) == want:sub(1, -2) then return true end
    elseif want:sub(1, 1) == "*" then
      if #c >= #want - 1 and c:sub(-(#want - 1)) == want:sub(2) then return true end
    elseif c == want then
      return true
    end
  end
  return false
end

-- Was the request perhaps processed (no answer, or a server error)?
function M.ambiguous(err)
  return type(err) == "table" and err.ambiguous == true
end

-- Run fn(...); when it raises an AWS error with one of the codes, return
-- nil, err instead. Other errors propagate.
function M.try(codes, fn, ...)
  local res = table.pack(pcall(fn, ...))
  if res[1] then return table.unpack(res, 2, res.n) end
  local err = res[2]
  if M.is(err, table.unpack(codes)) then return nil, err end
  error(err, 0)
end

local function decode_query_error(service, action, r)
  local doc, root = xml.decode(r.body or "")
  local code, msg
  if doc and root == "Response" then          -- EC2
    local e = xml.list(doc.Errors, "Error")[1]
    if e then code, msg = e.Code, e.Message end
  elseif doc and root == "ErrorResponse" then -- RDS, ElastiCache, IAM...
    local e = doc.Error
    if type(e) == "table" then code, msg = e.Code, e.Message end
  end
  code = type(code) == "string" and code ~= "" and code or ("HTTP" .. tostring(r.status))
  msg = type(msg) == "string" and msg or ("%s %s failed with HTTP status %s"):format(service, action, tostring(r.status))
  return aws_error(code, msg, { status = r.status, ambiguous = r.status >= 500 })
end

local function flatten(params, out)
  for k, v in pairs(params or {}) do
    if type(v) == "boolean" then v = v and "true" or "false" end
    if v ~= nil and v ~= cairn.null then
      if math.type(v) == "float" and v == math.floor(v) then v = math.tointeger(v) end
      out[k] = tostring(v)
    end
  end
  return out
end

-- The request table of one Query-protocol call (for cairn.http.request).
local function query_request(ctx, service, version, action, params, opts)
  opts = opts or {}
  local ep, region = M.endpoint(ctx, service)
  local form = flatten(params, { Action = action, Version = version })
  local idem = read_only_action(action) or opts.idempotent == true
  return {
    method = "POST",
    url = ep,
    headers = { ["content-type"] = "application/x-www-form-urlencoded; charset=utf-8" },
    body = url.query(form),
    sigv4 = "aws:amz:" .. region .. ":" .. service,
    service = service,
    action = action,
    idempotent = idem and true or false,
    timeout = opts.timeout,
  }
end

-- The decoded answer of a Query-protocol call, or nil, error.
-- skip (optional): element names left out of the decoded answer (xml.decode)
local function query_answer(service, action, req, r, skip, marks)
  if r.error then
    return nil, aws_error("RequestFailed", ("%s %s at %s: %s"):format(service, action, req.url, r.error),
      { ambiguous = true })
  end
  if r.status < 200 or r.status >= 300 then
    return nil, decode_query_error(service, action, r)
  end
  local doc, root_or_err = xml.decode(r.body or "", skip, marks)
  if doc == nil then
    return nil, aws_error("InvalidResponse", ("%s %s: cannot read the answer: %s"):format(service, action, tostring(root_or_err)))
  end
  if type(doc) ~= "table" then doc = {} end
  return doc
end

-- One Query-protocol call; returns the decoded answer (root element's value).
function M.query(ctx, service, version, action, params, opts)
  local req = query_request(ctx, service, version, action, params, opts)
  local doc, err = query_answer(service, action, req, cairn.http.request(req), opts and opts.skip,
    opts and opts.marks)
  if doc == nil then error(err, 0) end
  return doc
end

-- Several Query-protocol calls at the same time (cairn.http.request_all):
-- calls = { {service, version, action, params, opts}, ... } -> the decoded
-- answers in the same order, at most M.ALL_AT_ONCE at a time. When calls
-- fail, the first failure (in the order of the calls) is raised once the
-- calls in flight have their answers.
-- tolerate (optional): a list of error codes, as for M.is ("*.NotFound"):
-- a call failing with one of them raises nothing; its error is at its index
-- in the second result (index -> error) and its answer is nil, so walk the
-- answers with `for i = 1, #calls`, not ipairs.
M.ALL_AT_ONCE = 32
function M.query_all(ctx, calls, tolerate)
  local out, errs, pos = {}, {}, 1
  while pos <= #calls do
    local reqs, last = {}, math.min(pos + M.ALL_AT_ONCE - 1, #calls)
    for i = pos, last do
      local c = calls[i]
      reqs[#reqs + 1] = query_request(ctx, c[1], c[2], c[3], c[4], c[5])
    end
    local answers = #reqs == 1 and { cairn.http.request(reqs[1]) } or cairn.http.request_all(reqs)
    for i = pos, last do
      local c = calls[i]
      local doc, err = query_answer(c[1], c[3], reqs[i - pos + 1], answers[i - pos + 1])
      if doc == nil then
        if not (tolerate and M.is(err, table.unpack(tolerate))) then error(err, 0) end
        errs[i] = err
      end
      out[i] = doc
    end
    pos = last + 1
  end
  return out, errs
end

-- EC2 shorthand for query_all: calls = { {action, params, opts}, ... }
function M.ec2_all(ctx, calls, tolerate)
  local q = {}
  for i, c in ipairs(calls) do q[i] = { "ec2", M.EC2_VERSION, c[1], c[2], c[3] } end
  return M.query_all(ctx, q, tolerate)
end

-- EC2 shorthand
function M.ec2(ctx, action, params, opts)
  return M.query(ctx, "ec2", M.EC2_VERSION, action, params, opts)
end

-- REST-JSON (EKS and friends): body is a table (encoded) or nil.
function M.json_call(ctx, service, method, path, body, opts)
  opts = opts or {}
  local ep, region = M.endpoint(ctx, service)
  local headers = { ["content-type"] = "application/json", accept = "application/json" }
  local idem = opts.idempotent
  if idem == nil then idem = (method == "GET" or method == "PUT" or method == "DELETE" or method == "HEAD") end
  local r = cairn.http.request {
    method = method,
    url = ep:gsub("/$", "") .. path,
    headers = headers,
    body = body ~= nil and json.encode(body) or nil,
    sigv4 = "aws:amz:" .. region .. ":" .. (opts.signing_name or service),
    service = service,
    action = opts.action or (method .. " " .. path),
    idempotent = idem and true or false,
    timeout = opts.timeout,
  }
  if r.error then
    error(aws_error("RequestFailed", ("%s %s %s: %s"):format(service, method, path, r.error), { ambiguous = true }), 0)
  end
  local decoded = nil
  if r.body and r.body ~= "" then decoded = json.decode(r.body) end
  if r.status < 200 or r.status >= 300 then
    local h = r.headers or {}
    local code = h["x-amzn-errortype"] or (type(decoded) == "table" and (decoded.__type or decoded.code)) or ("HTTP" .. tostring(r.status))
    code = tostring(code):gsub(":.*$", ""):gsub("^.*#", "")
    local msg = type(decoded) == "table" and (decoded.message or decoded.Message) or (("%s %s %s failed with HTTP status %d"):format(service, method, path, r.status))
    error(aws_error(code, tostring(msg), { status = r.status, ambiguous = r.status >= 500 }), 0)
  end
  return decoded or {}
end

-- ---- lists, tags, filters ---------------------------------------------------

M.list = xml.list

-- The string `field` of each `item` of an XML list, in order (items without
-- one are skipped): M.strings_of(it.Subnets, "Subnet", "SubnetIdentifier")
function M.strings_of(list, item, field)
  local out = {}
  for _, e in ipairs(M.list(list, item)) do
    if type(e[field]) == "string" then out[#out + 1] = e[field] end
  end
  return out
end

-- "" or nil (an empty element) as nil
function M.str(v)
  if type(v) ~= "string" or v == "" then return nil end
  return v
end

function M.bool(v)
  return v == true or v == "true"
end

-- Add prefix.1, prefix.2... = values (a Lua array) to params.
function M.add_list(params, prefix, values)
  for i, v in ipairs(values or {}) do params[prefix .. "." .. i] = v end
  return params
end

-- Filter.N.Name / Filter.N.Value.M from { name = value-or-array, ... }
function M.add_filters(params, filters)
  local names = {}
  for k in pairs(filters or {}) do names[#names + 1] = k end
  table.sort(names)
  for i, name in ipairs(names) do
    local v = filters[name]
    params["Filter." .. i .. ".Name"] = name
    if type(v) ~= "table" then v = { v } end
    for j, x in ipairs(v) do params["Filter." .. i .. ".Value." .. j] = tostring(x) end
  end
  return params
end

-- The tags cairn puts on an object: cairn:stack, cairn:env, cairn:address
-- (and cairn:token on create).
function M.cairn_tags(ctx, with_token)
  local t = {}
  if ctx.stack and ctx.stack ~= "" then t[M.TAG_STACK] = ctx.stack end
  if ctx.env and ctx.env ~= "" then t[M.TAG_ENV] = ctx.env end
  if ctx.address and ctx.address ~= "" then t[M.TAG_ADDRESS] = ctx.address end
  if with_token and ctx.token and ctx.token ~= "" then t[M.TAG_TOKEN] = ctx.token end
  return t
end

local find = string.find

function M.is_cairn_tag(k)
  return type(k) == "string" and find(k, "^cairn:") ~= nil
end

-- user tags merged with cairn's (the user's cannot override cairn's keys)
function M.all_tags(ctx, user, with_token)
  local t = {}
  for k, v in pairs(user or {}) do
    if not M.is_cairn_tag(k) then t[k] = tostring(v) end
  end
  for k, v in pairs(M.cairn_tags(ctx, with_token)) do t[k] = v end
  return t
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end
M.sorted_keys = sorted_keys

-- TagSpecification.1.ResourceType / .Tag.N.Key / .Tag.N.Value
function M.add_tag_spec(params, resource_type, tags)
  local keys = sorted_keys(tags)
  if #keys == 0 then return params end
  params["TagSpecification.1.ResourceType"] = resource_type
  for i, k in ipairs(keys) do
    params["TagSpecification.1.Tag." .. i .. ".Key"] = k
    params["TagSpecification.1.Tag." .. i .. ".Value"] = tags[k]
  end
  return params
end

-- <tagSet><item><key/><value/></item>...</tagSet> -> all, user (cairn:* stripped)
function M.decode_tags(tag_set)
  local all, user = {}, {}
  for _, it in ipairs(xml.list(tag_set, "item")) do
    local k = it.key
    if type(k) == "string" then
      local v = it.value
      if type(v) ~= "string" then v = "" end
      all[k] = v
      if not find(k, "^cairn:") then user[k] = v end
    end
  end
  return all, user
end

-- ctx.list_fields (cairn drift's search for unmanaged objects): the only
-- attributes the caller reads from a listing, e.g. { "id", "vpc_id", "tags" }.
-- A list may then return just those, which saves building (and handing
-- over) every listed object's whole attributes. M.brief(ctx, fields): when
-- the caller asked for fields the module can take straight from a Describe
-- item (fields: attribute -> the item's field; "tags" always, from tagSet),
-- a function item -> those attributes, with the values the module's full
-- attributes would have; nil otherwise (the list builds them whole).
function M.brief(ctx, fields)
  local want = ctx.list_fields
  if type(want) ~= "table" then return nil end
  for _, f in ipairs(want) do
    if f ~= "tags" and not fields[f] then return nil end
  end
  return function(it)
    local out = {}
    for _, f in ipairs(want) do
      if f == "tags" then
        local _, user = M.decode_tags(it.tagSet)
        out.tags = user
      else
        out[f] = M.str(it[fields[f]])
      end
    end
    return out
  end
end

-- Make an EC2 object's user tags equal `want` (cairn's own tags are kept and
-- refreshed): CreateTags for new/changed, DeleteTags for removed.
function M.ec2_sync_tags(ctx, id, have, want, with_cairn)
  have, want = have or {}, want or {}
  local set, del = {}, {}
  for k, v in pairs(want) do
    if not M.is_cairn_tag(k) and have[k] ~= tostring(v) then set[k] = tostring(v) end
  end
  for k in pairs(have) do
    if not M.is_cairn_tag(k) and want[k] == nil then del[#del + 1] = k end
  end
  if with_cairn then
    for k, v in pairs(M.cairn_tags(ctx, false)) do set[k] = v end
  end
  if next(set) then
    local p = { ["ResourceId.1"] = id }
    for i, k in ipairs(sorted_keys(set)) do
      p["Tag." .. i .. ".Key"] = k
      p["Tag." .. i .. ".Value"] = set[k]
    end
    M.ec2(ctx, "CreateTags", p, { idempotent = true })
  end
  if #del > 0 then
    table.sort(del)
    local p = { ["ResourceId.1"] = id }
    for i, k in ipairs(del) do p["Tag." .. i .. ".Key"] = k end
    M.ec2(ctx, "DeleteTags", p, { idempotent = true })
  end
end

-- ---- describe, pagination, batching ----------------------------------------

-- Items a listing kept for the refresh that follows it. cairn drift lists
-- the managed containers' contents (a managed VPC's subnets, groups, route
-- tables...) right before it refreshes the managed objects, which are among
-- them: its list calls carry ctx.keep_listed, and every item their Describe
-- calls return is kept here, by action; ec2_describe_ids then takes the ids
-- it is asked for from these items (each item serves one read) and asks
-- the cloud only for the others. Nothing else sets ctx.keep_listed, so any
-- other run asks the cloud every time. (One table per module type: a
-- module's require gets a fresh aws.common, and its list and read_many
-- share it.)
local kept = {} -- action -> { items = {...} (not yet indexed), field =, by = { id -> item } }

local function keep_items(action, items)
  local k = kept[action] or { items = {} }
  kept[action] = k
  for _, it in ipairs(items) do
    if k.by then
      if type(it[k.field]) == "string" and not k.by[it[k.field]] then k.by[it[k.field]] = it end
    else
      k.items[#k.items + 1] = it
    end
  end
end

-- found (id -> kept item, now taken) and the ids not kept. An item taken
-- is no longer held here: once the read that took it is done, it is
-- garbage (the listings of a big environment are most of the memory).
local function take_kept(action, id_field, ids)
  local k = kept[action]
  if not k then return {}, ids end
  if not k.by or k.field ~= id_field then
    local from = k.items
    if k.by then
      from = {}
      for _, it in pairs(k.by) do from[#from + 1] = it end
    end
    k.by, k.field, k.items = {}, id_field, nil
    for _, it in ipairs(from) do
      if type(it[id_field]) == "string" and not k.by[it[id_field]] then k.by[it[id_field]] = it end
    end
  end
  local found, rest = {}, {}
  for _, id in ipairs(ids) do
    local it = k.by[id]
    if it then
      found[id], k.by[id] = it, nil
    else
      rest[#rest + 1] = id
    end
  end
  return found, rest
end

-- For modules whose Describe is not ec2_describe_ids: keep what a listing
-- returned (items: the objects, as the module's read_many wants them; only
-- under ctx.keep_listed) and take it back by id (found: id -> item; rest:
-- the ids to ask the cloud for). Each kept item serves one read.
function M.keep_listed(ctx, key, items)
  if ctx.keep_listed then keep_items(key, items) end
end
M.take_listed = take_kept

-- Every item of an EC2 Describe call, following nextToken.
--   M.ec2_describe(ctx, "DescribeVpcs", "vpcSet", params)
-- opts.id (the items' id field, "subnetId"): under cairn drift's read
-- marks (ctx.marks, runtime.h) the items are hashed, and those whose bytes
-- a mark names come back as stubs (read_result below), or, with
-- ctx.unchanged, are left out and named there (the engine takes them).
function M.ec2_describe(ctx, action, set_name, params, opts)
  if type(ctx.marks) == "table" and opts and opts.id then
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.marks = { set = set_name, id = opts.id, known = ctx.marks, hits = ctx.unchanged }
    opts = o
  end
  local items = M.ec2_items(ctx, action, set_name, params, nil, opts)
  if ctx.keep_listed then keep_items(action, items) end
  return items
end

-- The same, given the answer to the first page when the caller already has
-- it (from ec2_all): only further pages (rare) are asked for, in turn.
function M.ec2_items(ctx, action, set_name, params, first, opts)
  local page = first
  return cairn.paginate(function(token)
    local r = page
    page = nil
    if not r then
      local p = {}
      for k, v in pairs(params or {}) do p[k] = v end
      if token then p.NextToken = token end
      r = M.ec2(ctx, action, p, opts)
    end
    return xml.list(r[set_name], "item"), M.str(r.nextToken)
  end)
end

-- Query-protocol pagination over Marker (RDS, ElastiCache):
--   fn(marker) -> items, next_marker
function M.paginate_marker(fn)
  return cairn.paginate(fn)
end

-- Describe many ids of one kind, in chunks of `chunk` ids per call.
-- EC2 refuses the whole call when one id is unknown (notfound_code, or a
-- malformed id). The ids its message names are a hint, not an answer (AWS
-- documents the code, not the wording: an implementation may name every id
-- of the call): they are left out of the next call for the others, and one
-- is gone only when a describe of that id alone says so (those calls go out
-- at the same time). A message that names none: every id of the call alone.
-- Returns id -> item.  id_param: "VpcId"; id_field: "vpcId". Ids a listing
-- kept (above) are not asked for again.
function M.ec2_describe_ids(ctx, action, set_name, id_param, id_field, ids, notfound_code, chunk)
  chunk = chunk or 200
  local gone_codes = { notfound_code, "*.Malformed", "InvalidID" }
  local found
  found, ids = take_kept(action, id_field, ids)
  local function take(items)
    for _, it in ipairs(items) do
      if type(it[id_field]) == "string" then found[it[id_field]] = it end
    end
  end
  for i = 1, #ids, chunk do
    local part, alone = {}, {}
    for j = i, math.min(i + chunk - 1, #ids) do part[#part + 1] = ids[j] end
    while #part > 1 do
      local p = M.add_list({}, id_param, part)
      local ok, res = pcall(M.ec2_describe, ctx, action, set_name, p, { id = id_field })
      if ok then
        take(res)
        part = {}
        break
      end
      if not M.is(res, table.unpack(gone_codes)) then error(res, 0) end
      local msg, rest = tostring(res.message or ""), {}
      for _, id in ipairs(part) do
        if msg:find(id, 1, true) then alone[#alone + 1] = id else rest[#rest + 1] = id end
      end
      if #rest == #part then break end -- none named: each alone
      part = rest
    end
    for _, id in ipairs(part) do alone[#alone + 1] = id end
    local calls = {}
    for k, id in ipairs(alone) do calls[k] = { action, M.add_list({}, id_param, { id }) } end
    local answers = M.ec2_all(ctx, calls, gone_codes)
    for k = 1, #calls do
      if answers[k] then take(M.ec2_items(ctx, action, set_name, calls[k][2], answers[k])) end
    end
  end
  return found
end

-- What read_many answers for a Describe item: "#unchanged:DIGEST" for a
-- read marks stub (its bytes are those of the last read that matched the
-- state: the engine keeps the recorded attributes), else attrs_of(ctx, it,
-- ...) with the item's digest, when it has one, under "#digest" (the
-- engine takes it out and keeps a mark when the attributes match).
function M.read_result(ctx, it, attrs_of, ...)
  local d = it["#digest"]
  if it["#unchanged"] and type(d) == "string" then return "#unchanged:" .. d end
  local a = attrs_of(ctx, it, ...)
  if type(d) == "string" and type(a) == "table" then a["#digest"] = d end
  return a
end

-- Ids of a read_many list ({id=, address=, attrs=}...), deduplicated.
function M.ids_of(list)
  local ids, seen = {}, {}
  for _, e in ipairs(list or {}) do
    if type(e.id) == "string" and e.id ~= "" and not seen[e.id] then
      seen[e.id] = true
      ids[#ids + 1] = e.id
    end
  end
  return ids
end

-- ---- waiters ------------------------------------------------------------------

-- EC2 is eventually consistent: an object just created may be unknown to
-- Describe, and to the next call naming it, for a moment. How long (s) an
-- object cairn has just made may stay invisible before it counts as gone.
M.VISIBLE_WITHIN = 120

-- How long (s) a delete waits out DependencyViolation: network interfaces
-- that EKS, the VPC CNI, Lambda or a load balancer leave behind, and mapped
-- public addresses, take minutes to go (Terraform waits 20 minutes too).
M.DEPENDENTS_GO_WITHIN = 1200

-- Poll fn() until it returns the (just created) object, for at most
-- VISIBLE_WITHIN seconds; `what` names it in the timeout's message.
function M.wait_visible(fn, what)
  return cairn.wait.poll(fn, { timeout = M.VISIBLE_WITHIN, interval = 1, max_interval = 5,
    what = what .. " to be visible" })
end

-- Poll fn() -> status (nil when gone) until it is one of `want` (a status
-- string or a list), or gone when want == "gone". Fails at once on one of
-- opts.failed. Returns the last value fn returned (second result).
-- opts.just_created: the object was just made, so not finding it is "not
-- visible yet" (for VISIBLE_WITHIN seconds, until it was seen once).
function M.wait_for(fn, want, opts)
  opts = opts or {}
  local wanted = {}
  for _, w in ipairs(type(want) == "table" and want or { want }) do wanted[w] = true end
  local failed = {}
  for _, f in ipairs(opts.failed or {}) do failed[f] = true end
  local last, seen, start = nil, false, cairn.time.now()
  cairn.wait.poll(function()
    local status, obj = fn()
    last = obj
    if status == nil then
      if wanted.gone then return true end
      if opts.gone_ok then return true end
      if opts.just_created and not seen and cairn.time.now() - start < M.VISIBLE_WITHIN then
        return nil, "not visible yet"
      end
      error(aws_error("NotFound", (opts.what or "the object") .. " disappeared while waiting"), 0)
    end
    seen = true
    if wanted[status] then return true end
    if failed[status] then
      error(aws_error("UnexpectedStatus", ("%s is %s"):format(opts.what or "the object", status)), 0)
    end
    return nil, status
  end, { timeout = opts.timeout or 600, interval = opts.interval or 1, max_interval = opts.max_interval or 15,
         factor = opts.factor or 1.5, what = opts.what })
  return last
end

-- Call fn(); while it fails with one of the codes (DependencyViolation...),
-- wait and call again, for at most opts.timeout seconds.
function M.retry_on(codes, fn, opts)
  opts = opts or {}
  local result
  local last_err
  cairn.wait.poll(function()
    local ok, res = pcall(fn)
    if ok then result = res; return true end
    if not M.is(res, table.unpack(codes)) then error(res, 0) end
    last_err = res
    return nil, res.code
  end, { timeout = opts.timeout or 300, interval = opts.interval or 2, max_interval = opts.max_interval or 15,
         factor = 1.5, what = opts.what or "dependencies to go away" })
  return result, last_err
end

-- An object found being deleted (a run killed after its delete was
-- accepted, someone in the console) is neither alive nor gone yet: recorded
-- as alive, it vanishes under the state; planned for creation, the create
-- is refused while its name is taken (DBInstanceAlreadyExists,
-- ResourceInUseException). So refresh, recovery, import and the search
-- before a create wait it out with wait_gone() and take it as gone; a
-- destroy then has nothing left to do for it, an apply creates it again
-- when the configuration wants it. Returns nil.
-- A run that writes nothing (ctx.planning: plan, drift) does not wait on the
-- cloud: its read returns M.being_deleted() for such an object (the engine
-- takes it as gone and the plan says it will be created once the deletion
-- finishes), and anything else takes it as gone at once; the apply after it
-- waits.
function M.gone_once_deleted(ctx, what, wait_gone)
  if ctx.planning then return nil end
  cairn.log.warn("%s is being deleted; waiting until it is gone", what)
  wait_gone()
  return nil
end

-- What read (read_many: for the object's id) returns for an object being
-- deleted in a run that does not wait (ctx.planning); nil when the run waits
-- (or the object is not being deleted): the caller reads on.
function M.being_deleted(ctx, deleting)
  if deleting and ctx.planning then return { _deleting = true } end
  return nil
end

-- ---- creation with recovery ----------------------------------------------------

-- After a create of unknown outcome, how long (s) the object is looked for
-- by its tag before the create is made again: a search by tag is
-- eventually consistent too, and a second create would make a twin.
M.FIND_WITHIN = 8

local function find_for_a_while(ctx, find)
  local waited, pause = 0, 1
  while true do
    local item = find(ctx, ctx.token)
    if item or waited >= M.FIND_WITHIN then return item end
    cairn.sleep(pause)
    waited, pause = waited + pause, math.min(pause * 1.5, 4)
  end
end

-- Create an object whose create call is not idempotent: when the call's
-- outcome is unknown (no answer, 5xx), look for it by its cairn:token tag
-- (find(ctx, token) -> item or nil) for FIND_WITHIN seconds; if it is not
-- there, the call was not processed and is made again (at most 3 times in
-- all).
function M.create_recoverable(ctx, create, find)
  local last
  for _ = 1, 3 do
    local ok, res = pcall(create)
    if ok then return res end
    if not M.ambiguous(res) then error(res, 0) end
    last = res
    cairn.log.warn("the create's outcome is unknown (%s); looking for the object by its cairn:token tag",
      tostring(res.message))
    if ctx.token then
      local item = find_for_a_while(ctx, find)
      if item then return item end
    end
  end
  error(last, 0)
end

-- Sort an array of items the way they were recorded: items equal (by key(x))
-- to a recorded one come in the recorded order, then the others in the
-- given order. Returns a JSON array.
function M.order_like(items, recorded, key)
  local out = json.array()
  local pos = {}
  for i, r in ipairs(recorded or {}) do
    local k = key(r)
    if k ~= nil and pos[k] == nil then pos[k] = i end
  end
  local known, extra = {}, {}
  for _, it in ipairs(items) do
    local p = pos[key(it)]
    if p then known[#known + 1] = { p, it } else extra[#extra + 1] = it end
  end
  table.sort(known, function(a, b) return a[1] < b[1] end)
  for _, e in ipairs(known) do out[#out + 1] = e[2] end
  for _, it in ipairs(extra) do out[#out + 1] = it end
  return out
end

-- Do arrays a and b (nil: empty) hold the same values, in any order? Both
-- are taken as sets of distinct values: the counts must match.
function M.same_set(a, b)
  a, b = a or {}, b or {}
  if #a ~= #b then return false end
  local s = {}
  for _, x in ipairs(a) do s[x] = true end
  for _, x in ipairs(b) do if not s[x] then return false end end
  return true
end

function M.array(t)
  local a = json.array()
  for _, v in ipairs(t or {}) do a[#a + 1] = v end
  return a
end

-- ---- RDS / ElastiCache (Query protocol with ARNs and <TagList>) --------------

M.RDS_VERSION, M.ELASTICACHE_VERSION = "2014-10-31", "2015-02-02"

-- Tags.Tag.N.Key / Tags.Tag.N.Value (RDS and ElastiCache spelling)
function M.add_query_tags(params, tags)
  for i, k in ipairs(sorted_keys(tags)) do
    params["Tags.Tag." .. i .. ".Key"] = k
    params["Tags.Tag." .. i .. ".Value"] = tags[k]
  end
  return params
end

-- <TagList><Tag><Key/><Value/></Tag>...</TagList> -> all, user (cairn:* stripped)
function M.decode_tag_list(tag_list)
  local all, user = {}, {}
  for _, t in ipairs(xml.list(tag_list, "Tag")) do
    if type(t.Key) == "string" then
      local v = type(t.Value) == "string" and t.Value or ""
      all[t.Key] = v
      if not M.is_cairn_tag(t.Key) then user[t.Key] = v end
    end
  end
  return all, user
end

-- The tags of an RDS / ElastiCache object by ARN: all, user; nil when gone.
function M.list_tags(ctx, service, version, arn, notfound)
  local r = M.try(notfound or {}, M.query, ctx, service, version, "ListTagsForResource", { ResourceName = arn })
  if not r then return nil end
  local res = r.ListTagsForResourceResult or {}
  return M.decode_tag_list(res.TagList)
end

-- Make the user tags of an RDS / ElastiCache object equal `want` (cairn's
-- tags are kept and refreshed): AddTagsToResource, RemoveTagsFromResource.
-- settle (optional) is called after each of them, for an object that a tag
-- change keeps busy a while (an ElastiCache replication group).
function M.query_sync_tags(ctx, service, version, arn, have, want, settle)
  have, want = have or {}, want or {}
  local set, del = {}, {}
  for k, v in pairs(want) do
    if not M.is_cairn_tag(k) and have[k] ~= tostring(v) then set[k] = tostring(v) end
  end
  for k in pairs(have) do
    if not M.is_cairn_tag(k) and want[k] == nil then del[#del + 1] = k end
  end
  for k, v in pairs(M.cairn_tags(ctx, false)) do
    if have[k] ~= v then set[k] = v end
  end
  if next(set) then
    M.query(ctx, service, version, "AddTagsToResource", M.add_query_tags({ ResourceName = arn }, set),
      { idempotent = true })
    if settle then settle() end
  end
  if #del > 0 then
    table.sort(del)
    -- ElastiCache refuses keys that are not there (TagNotFound): someone removed them already
    M.try({ "TagNotFound" }, M.query, ctx, service, version, "RemoveTagsFromResource",
      M.add_list({ ResourceName = arn }, "TagKeys.member", del), { idempotent = true })
    if settle then settle() end
  end
end

-- Every item of an RDS / ElastiCache Describe call, following Marker with
-- MaxRecords 100:  M.query_describe(ctx, "rds", M.RDS_VERSION,
--   "DescribeDBInstances", "DBInstances", "DBInstance", params)
-- Under ctx.keep_listed the items are kept for the refresh (take_listed
-- with the action as the key).
function M.query_describe(ctx, service, version, action, list_name, item_name, params, opts)
  local items = cairn.paginate(function(marker)
    local p = { MaxRecords = 100 }
    for k, v in pairs(params or {}) do p[k] = v end
    if marker then p.Marker = marker end
    local r = M.query(ctx, service, version, action, p, opts)
    local res = r[action .. "Result"] or {}
    return xml.list(res[list_name], item_name), M.str(res.Marker)
  end)
  M.keep_listed(ctx, action, items)
  return items
end

-- Filters.Filter.N.Name / Filters.Filter.N.Values.Value.M (RDS spelling)
function M.add_query_filters(params, filters)
  for i, name in ipairs(sorted_keys(filters)) do
    local v = filters[name]
    params["Filters.Filter." .. i .. ".Name"] = name
    if type(v) ~= "table" then v = { v } end
    for j, x in ipairs(v) do params["Filters.Filter." .. i .. ".Values.Value." .. j] = tostring(x) end
  end
  return params
end

-- A list filter applied here, for the Describe calls that cannot filter
-- on tags or containers (RDS, ElastiCache): filter = { name = value or
-- array of values }, as for EC2. "tag:KEY" takes the object's tags
-- (cairn's included) and compares exactly; any other name is the attribute
-- fields[name], compared without case (both services lowercase names). An
-- unknown name is an error, as on EC2. Returns attrs_ok(attrs) and
-- tags_ok(all_tags), nil when the filter names no tag (so that the tags,
-- one call per object for some, are asked for only when needed).
function M.local_filter(filter, fields)
  local by_attr, by_tag = {}, {}
  for name, v in pairs(filter or {}) do
    local key, set = name:match("^tag:(.+)$"), {}
    for _, x in ipairs(type(v) == "table" and v or { v }) do
      x = tostring(x)
      set[key and x or x:lower()] = true
    end
    if key then
      by_tag[key] = set
    elseif fields[name] then
      by_attr[fields[name]] = set
    else
      error(aws_error("InvalidParameterValue", ("the filter '%s' is invalid"):format(name)), 0)
    end
  end
  local function attrs_ok(attrs)
    for a, set in pairs(by_attr) do
      local v = attrs[a]
      if type(v) ~= "string" or not set[v:lower()] then return false end
    end
    return true
  end
  if next(by_tag) == nil then return attrs_ok, nil end
  return attrs_ok, function(all)
    for k, set in pairs(by_tag) do
      local v = type(all) == "table" and all[k]
      if type(v) ~= "string" or not set[v] then return false end
    end
    return true
  end
end

-- Create an object with a unique name whose create call is not idempotent:
-- create() once; when its outcome is unknown (no answer, 5xx) or the name is
-- taken (`exists_code`: a re-sent create that had worked), find(ctx) ->
-- item, tags-of-item decides: the object is ours when it carries our
-- cairn:token tag. Unknown outcome and nothing found: create again (at most
-- 3 times); the name taken and nothing found: the object that held it went
-- away meanwhile (find waits out one being deleted), create again too.
-- Returns the item create or find returned.
function M.create_by_name(ctx, create, find, exists_code)
  local last
  for _ = 1, 3 do
    local ok, res = pcall(create)
    if ok then return res end
    local exists = M.is(res, exists_code)
    if not M.ambiguous(res) and not exists then error(res, 0) end
    last = res
    if not exists then
      cairn.log.warn("the create's outcome is unknown (%s); looking for the object by its name", tostring(res.message))
    end
    local item, tags = find(ctx)
    if item then
      if ctx.token and tags and tags[M.TAG_TOKEN] == ctx.token then return item end
      if exists then error(res, 0) end
      error(aws_error("AlreadyExists", "an object of that name exists and was not made by this run (its cairn:token tag differs)"), 0)
    end
  end
  error(last, 0)
end

-- ids of a read_many list as a set, with the recorded attributes
function M.recorded_of(list)
  local rec = {}
  for _, e in ipairs(list or {}) do
    if type(e.id) == "string" and e.id ~= "" then rec[e.id] = e.attrs or {} end
  end
  return rec
end

-- A name as AWS reports it (lowercased by RDS), or the recorded spelling
-- when it differs only in case.
function M.same_name(actual, recorded)
  if type(recorded) == "string" and type(actual) == "string" and recorded:lower() == actual:lower() then
    return recorded
  end
  return actual
end

-- An engine version as AWS reports it ("16.3", "7.1.0"), or the recorded
-- (configured) one when that is the same or a prefix of it at a component
-- boundary ("16", "7.1"): AWS takes a prefix and picks the full version.
function M.same_version(actual, recorded)
  if type(recorded) == "string" and type(actual) == "string" and recorded ~= ""
      and (actual == recorded or actual:sub(1, #recorded + 1) == recorded .. ".") then
    return recorded
  end
  return actual
end

-- Is engine version a older than b? Compared component by component,
-- numbers as numbers ("6.2" < "7.0.7", "9.6.24" < "10.1"); a version that
-- is a prefix of the other ("7.1" of "7.1.0") is not older.
function M.version_less(a, b)
  local pa, pb = {}, {}
  for x in tostring(a):gmatch("[^.]+") do pa[#pa + 1] = x end
  for x in tostring(b):gmatch("[^.]+") do pb[#pb + 1] = x end
  for i = 1, math.min(#pa, #pb) do
    local x, y = tonumber(pa[i]), tonumber(pb[i])
    if x and y then
      if x ~= y then return x < y end
    elseif pa[i] ~= pb[i] then
      return pa[i] < pb[i]
    end
  end
  return false
end

-- The error for an engine downgrade (RDS and ElastiCache only upgrade in place).
function M.version_downgrade(what, cur, want)
  return aws_error("InvalidParameterCombination",
    ("cannot downgrade %s from engine version %s to %s: only upgrades happen in place; "
      .. "create a new one (a new identifier) to go back"):format(what, cur, want))
end

function M.num(v)
  return math.tointeger(tonumber(v)) or tonumber(v)
end

-- The Kubernetes versions an EKS upgrade from cur to want goes through,
-- one minor version at a time as EKS takes them: "1.28" -> "1.30" is
-- { "1.29", "1.30" }; nil for a downgrade (EKS has none: raise
-- k8s_downgrade). Versions not of the form MAJOR.MINOR, or of two majors,
-- are one step for EKS to judge.
function M.k8s_steps(cur, want)
  local cmaj, cmin = tostring(cur or ""):match("^(%d+)%.(%d+)$")
  local wmaj, wmin = tostring(want or ""):match("^(%d+)%.(%d+)$")
  if not cmaj or not wmaj or cmaj ~= wmaj then return { want } end
  cmin, wmin = tonumber(cmin), tonumber(wmin)
  if wmin < cmin then return nil end
  local steps = {}
  for m = cmin + 1, wmin do steps[#steps + 1] = cmaj .. "." .. m end
  return steps
end

-- The error for a downgrade of `what` (an EKS cluster or node group).
function M.k8s_downgrade(what, cur, want)
  return aws_error("InvalidParameter", ("cannot downgrade %s from Kubernetes %s to %s: EKS versions only go up"):format(
    what, cur, want))
end

return M
