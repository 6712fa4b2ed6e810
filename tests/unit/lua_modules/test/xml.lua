return {
  type = "test.xml",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    local doc, root = cairn.xml.decode(p.body)
    local vpcs = cairn.json.array()
    for _, v in ipairs(cairn.xml.list(doc.vpcSet, "item")) do
      local tags = {}
      for _, t in ipairs(cairn.xml.list(v.tagSet, "item")) do tags[t.key] = t.value end
      vpcs[#vpcs + 1] = { id = v.vpcId, cidr = v.cidrBlock, state = v.state, tags = tags,
                          default = v.isDefault == "true",
                          assoc = #cairn.xml.list(v.cidrBlockAssociationSet, "item") }
    end
    local bad, err = cairn.xml.decode("<a><b></a>")
    local attr = cairn.xml.decode('<r xmlns:x="urn:x"><x:e id="7">hi</x:e></r>')
    return { root = root, request_id = doc.requestId, vpcs = vpcs, bad_err = err,
             attr_id = attr.e._attr.id, attr_text = attr.e._text,
             empty = #cairn.xml.list(nil, "item") }
  end,
  read = function() end,
  delete = function() end,
}
