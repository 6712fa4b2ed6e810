-- aws.common's EC2 pagination: every page, with or without the first one in hand
local aws = require("aws.common")
return {
  type = "test.paginate",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    local c = { provider = { region = "us-east-1", endpoint = "http://paginate/" } }
    local function ids(items)
      local t = {}
      for _, it in ipairs(items) do t[#t + 1] = it.vpcId end
      return table.concat(t, ",")
    end
    local all = aws.ec2_describe(c, "DescribeVpcs", "vpcSet", { ["Filter.1.Name"] = "x" })
    local firsts = aws.ec2_all(c, { { "DescribeVpcs", {} }, { "DescribeVpcAttribute", { VpcId = "vpc-a" } } })
    local rest = aws.ec2_items(c, "DescribeVpcs", "vpcSet", {}, firsts[1])
    return { all = ids(all), rest = ids(rest), second_root = firsts[2].vpcSet.item.vpcId }
  end,
  read = function() end,
  delete = function() end,
}
