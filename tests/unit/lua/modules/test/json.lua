return {
  type = "test.json",
  schema = { id = { type = "string", computed = true } },
  create = function(ctx, p)
    local s = cairn.json.encode(p)
    local back = cairn.json.decode(s)
    local bad, err = cairn.json.decode("{nope")
    return {
      echo = back, encoded = s,
      empty_arr = cairn.json.array(), empty_obj = {}, seq = { 1, 2, 3 },
      float = 1.5, int = 9007199254740993, neg = -7,
      nested = { a = { b = { true, false } } },
      null_in_arr = { 1, cairn.null, 3 },
      decode_err = err, is_array = cairn.json.is_array(back.list),
      arr_type = math.type(back.n),
    }
  end,
  read = function(ctx, id, attrs) return attrs end,
  delete = function() end,
}
