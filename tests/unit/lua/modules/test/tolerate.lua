-- aws.common's query_all with tolerated error codes (answers: http://errors/)
local aws = require("aws.common")
return {
  type = "test.tolerate",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    local c = { provider = { region = "us-east-1", endpoint = "http://errors/" } }
    local function attr(id) return { "DescribeVpcAttribute", { VpcId = id, Attribute = "enableDnsSupport" } } end
    local answers, errs = aws.ec2_all(c, { attr("vpc-a"), attr("vpc-gone"), attr("vpc-b") }, { "InvalidVpcID.*" })
    local got, failed = {}, {}
    for i = 1, 3 do
      if answers[i] then got[#got + 1] = i .. ":" .. answers[i].enableDnsSupport.value end
      if errs[i] then failed[#failed + 1] = i .. ":" .. errs[i].code end
    end
    local _, other = pcall(aws.ec2_all, c, { attr("vpc-gone"), attr("vpc-denied") }, { "InvalidVpcID.NotFound" })
    local _, strict = pcall(aws.ec2_all, c, { attr("vpc-a"), attr("vpc-gone") })
    return { answers = table.concat(got, ","), errors = table.concat(failed, ","),
      other = aws.code(other), strict = aws.code(strict) }
  end,
  read = function() end,
  delete = function() end,
}
