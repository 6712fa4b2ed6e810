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
    local _, dtd_err = cairn.xml.decode('<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>')
    local three = cairn.xml.decode("<r><i>1</i><i><k>2</k></i><i/><j>  </j><m>t<n>u</n></m></r>")
    local deep = string.rep("<d>", 300) .. string.rep("</d>", 300)
    local _, deep_err = cairn.xml.decode(deep)
    local _, junk_err = cairn.xml.decode("<r/><s/>")
    -- names: a long one (not kept as a Lua string), one under two prefixes
    local ln = string.rep("n", 60)
    local names = cairn.xml.decode(("<r><%s>1</%s><%s>2</%s><a:z>3</a:z><b:z>4</b:z><s><z>5</z></s></r>")
      :format(ln, ln, ln, ln))
    -- skip: the named elements left out, with what they hold, at any depth
    local sk = cairn.xml.decode("<r><a>1</a><b><a>x<c>y</c></a><d>2</d></b><e><a/></e><f>3</f>" ..
      string.rep("<a>", 300) .. string.rep("</a>", 300) .. "</r>", { a = true })
    local skipped = ("%s %s %s %s %s"):format(tostring(sk.a), tostring(sk.b.a), sk.b.d,
      type(sk.e) == "string" and "leaf" or "table", sk.f)
    return { root = root, skipped = skipped, request_id = doc.requestId, vpcs = vpcs, bad_err = err,
             attr_id = attr.e._attr.id, attr_text = attr.e._text,
             empty = #cairn.xml.list(nil, "item"), dtd_err = dtd_err,
             three_n = #three.i, three_1 = three.i[1], three_2 = three.i[2].k, three_3 = three.i[3],
             blank = three.j, mixed_text = three.m._text, mixed_child = three.m.n,
             deep_err = deep_err, junk_err = junk_err,
             names = ("%s %s %d %s %s %s"):format(names[ln][1], names[ln][2], #names.z, names.z[1], names.z[2], names.s.z) }
  end,
  read = function() end,
  delete = function() end,
}
