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
    -- marks: each <item> of the set hashed; a known digest gives a stub, not a decoding
    local page = '<R xmlns="urn:x"><s><item><id>a</id><v>1</v></item><item><id>b</id><v>2</v></item>' ..
      '<item><id>c</id><u>skip me</u></item></s><t><item><id>z</id></item></t></R>'
    local d1 = cairn.xml.decode(page, { u = true }, { set = "s", id = "id" })
    local digs = {}
    for i, it in ipairs(d1.s.item) do digs[i] = it["#digest"] end
    local known = { [digs[2]] = "b-known" }
    local d2 = cairn.xml.decode(page, { u = true }, { set = "s", id = "id", known = known })
    local i1, i2, i3 = d2.s.item[1], d2.s.item[2], d2.s.item[3]
    local marks = table.concat({
      #digs[1], tostring(digs[1] ~= digs[2]), tostring(d1.t.item["#digest"]),
      i1.id, i1.v, tostring(i1["#digest"] == digs[1]), tostring(i1["#unchanged"]),
      i2.id, tostring(i2.v), tostring(i2["#digest"] == digs[2]), tostring(i2["#unchanged"]),
      i3.id, tostring(i3.u), tostring(i3["#digest"] == digs[3]), d2.t.item.id }, " ")
    -- marks.hits: a known item left out of the answer, named in hits instead;
    -- when every item is known the set is an empty table
    local hits = {}
    local d3 = cairn.xml.decode(page, { u = true }, { set = "s", id = "id", known = known, hits = hits })
    local all = { [digs[1]] = "a1", [digs[2]] = "b1", [digs[3]] = "c1" }
    local hits4 = {}
    local d4 = cairn.xml.decode(page, { u = true }, { set = "s", id = "id", known = all, hits = hits4 })
    local nh4 = 0
    for k in pairs(hits4) do if k:sub(1, 1) ~= "#" then nh4 = nh4 + 1 end end
    local hit = table.concat({ #cairn.xml.list(d3.s, "item"), d3.s.item[1].id, d3.s.item[2].id,
      tostring(hits["b-known"] == digs[2]), tostring(hits.b), type(d4.s), #cairn.xml.list(d4.s, "item"),
      nh4, tostring(hits4.c1 == digs[3]), d4.t.item.id }, " ")
    -- page marks: an answer of which at least half the items were hits is
    -- kept (hits["#page:" .. P] = its record); the same bytes, request id
    -- aside, are then served from it (hits["#page:" .. P] = "") unparsed
    local function ans(rid, bv)
      return ('<R xmlns="urn:x"><requestId>%s</requestId><s><item><id>a</id><v>1</v></item>' ..
        '<item><id>b</id><v>%s</v></item><item><id>c</id><v>3</v></item></s><next>tok</next></R>'):format(rid, bv)
    end
    local pd = {}
    for i, it in ipairs(cairn.xml.decode(ans("one", "2"), nil, { set = "s", id = "id" }).s.item) do pd[i] = it["#digest"] end
    local function pages_of(h)
      local keys = {}
      for k, v in pairs(h) do if k:sub(1, 6) == "#page:" then keys[#keys + 1] = { k:sub(7), v } end end
      return keys
    end
    local ha = {}
    cairn.xml.decode(ans("one", "2"), nil, { set = "s", id = "id", known = { [pd[1]] = "A", [pd[2]] = "B", [pd[3]] = "C" }, hits = ha })
    local pa = pages_of(ha)
    local P, rec = pa[1][1], pa[1][2]
    local hdr, dl = rec:match("^(cairn%-page 1)\n(%x*)\n")
    local served = {}
    local kb = { [pd[1]] = "A", [pd[2]] = "B", [pd[3]] = "C", ["#" .. P] = rec }
    local db = cairn.xml.decode(ans("two", "2"), nil, { set = "s", id = "id", known = kb, hits = served })
    -- another answer (b changed): parsed, b decoded; a new page kept
    local hc = {}
    local dc = cairn.xml.decode(ans("three", "9"), nil, { set = "s", id = "id", known = kb, hits = hc })
    local pc = pages_of(hc)
    -- a record naming a digest no longer offered: parsed in full
    local hq = {}
    local dq = cairn.xml.decode(ans("four", "2"), nil, { set = "s", id = "id",
      known = { [pd[1]] = "A", [pd[3]] = "C", ["#" .. P] = rec }, hits = hq })
    -- two hits of three: the record keeps b's bytes, decoded when served
    local h2 = {}
    cairn.xml.decode(ans("one", "2"), nil, { set = "s", id = "id", known = { [pd[1]] = "A", [pd[3]] = "C" }, hits = h2 })
    local p2 = pages_of(h2)
    local h2b = {}
    local d2b = cairn.xml.decode(ans("five", "2"), nil, { set = "s", id = "id",
      known = { [pd[1]] = "A", [pd[3]] = "C", ["#" .. p2[1][1]] = p2[1][2] }, hits = h2b })
    local pages = table.concat({ #pa, hdr, #dl, tostring(rec:find("<id>a</id>", 1, true)), tostring(rec:find("<next>tok</next>", 1, true) ~= nil),
      ("%q"):format(served["#page:" .. P]), tostring(served.A == pd[1] and served.B == pd[2] and served.C == pd[3]),
      db.next, type(db.s), #cairn.xml.list(db.s, "item"), db.requestId,
      tostring(hc["#page:" .. P]), tostring(hc.B), dc.s.item.id, dc.s.item.v, #pc, tostring(pc[1][1] ~= P),
      tostring(hq["#page:" .. P] ~= ""), tostring(hq.A == pd[1]), dq.s.item.id, tostring(dq.s.item["#digest"] == pd[2]),
      #p2, tostring(p2[1][1] == P), #p2[1][2]:match("\n(%x*)\n"), tostring(p2[1][2]:find("<id>b</id>", 1, true) ~= nil),
      ("%q"):format(h2b["#page:" .. P]), tostring(h2b.A == pd[1] and h2b.C == pd[3]), d2b.s.item.id,
      tostring(d2b.s.item["#digest"] == pd[2]), d2b.next }, " ")
    -- a page of ~300 KB (expat is given 64 KB at a time): each item's digest
    -- is the SHA-256 of its own bytes, wherever the pieces were cut
    local parts, items = { "<R><s>" }, {}
    for i = 1, 600 do
      items[i] = ("<item><id>i%d</id><v>%s</v></item>"):format(i, string.rep(string.char(97 + i % 26), 400 + i % 7))
      parts[#parts + 1] = items[i]
    end
    parts[#parts + 1] = "</s></R>"
    local big = cairn.xml.decode(table.concat(parts), nil, { set = "s", id = "id" })
    local same = 0
    for i, it in ipairs(big.s.item) do
      if it["#digest"] == cairn.hash.sha256(items[i]) and it.id == "i" .. i then same = same + 1 end
    end
    return { root = root, skipped = skipped, marks = marks, hit = hit, pages = pages, big = ("%d of %d"):format(same, #big.s.item), request_id = doc.requestId, vpcs = vpcs, bad_err = err,
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
