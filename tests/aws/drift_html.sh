#!/usr/bin/env bash
# The HTML drift report in a real browser: headless Chromium (Debian's
# `chromium`) takes a screenshot of the page, which must be a PNG of the
# window's size that is not blank (the colours of the matrix are there),
# and dumps the DOM, whose text must say what a reader needs: the stack,
# each environment and its status, the drifted resource with what changed,
# the unmanaged object, the legend. The page loads nothing from anywhere.
# Skipped (77) when chromium is not installed.
. "$(dirname "$0")/lib.sh" "$@"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then echo "# skipped: no chromium (apt-get install chromium)"; exit 77; fi
start_sim

awsstack s <<'YAML'
stack: shop
resources:
  vpc:
    type: aws.vpc
    cidr_block: 10.0.0.0/16
    tags: { Name: "shop-${env.name}" }
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "${vpc.id}"
    cidr_block: "10.0.${count.index}.0/24"
YAML
cp s/dev.yaml s/prod.yaml
for env in dev prod; do
  run apply -C s -e "$env" --auto-approve
  expect_rc 0 "$env: apply"
done
VPC=$(state_sql s "select id from resources where env='prod' and address='vpc'")
sim_patch "$VPC" '{"tags":{"Name":"renamed <b>by</b> hand"}}'
HAND=$(ec2 CreateSubnet VpcId="$VPC" CidrBlock=10.0.9.0/24 | xml_val subnetId)

run drift -C s --all --html report.html
expect_rc 2 "drift in prod"
check "the page is written" test -s report.html
check "the page loads nothing: no src, no href, no url(), no @import" \
  bash -c "! grep -Eiq '(src|href)=|url\\(|@import' report.html"
check "a value from the cloud is escaped" grep -q 'renamed &lt;b&gt;by&lt;/b&gt; hand' report.html

chrome() {
  timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$WORK/chrome" --window-size=1280,900 "$@" 2>>"$WORK/chrome.log"
}
chrome --screenshot="$WORK/shot.png" "file://$WORK/report.html" >/dev/null
check "a screenshot was taken" test -s shot.png
check "the screenshot is a 1280x900 PNG, not blank, with the report's colours" python3 - shot.png <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, hdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR": hdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT": idat += body
    pos += 12 + n
w, h, depth, ctype = hdr[:4]
assert (w, h) == (1280, 900), (w, h)
assert depth == 8 and ctype in (2, 6), hdr
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, rows, i = bytearray(stride), [], 0
for _ in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(bytes(line)); prev = line
colours, dark = set(), 0
for r in rows[::3]:
    for x in range(0, stride, bpp * 3):
        px = r[x:x + 3]; colours.add(px)
        if sum(px) < 200: dark += 1
assert len(colours) > 20, "blank or nearly: %d colours" % len(colours)
assert dark > 500, "no text: %d dark pixels" % dark
# the badge colours of the matrix (changed: #c76a00, unmanaged: #7b3fa6, in sync: #2e8540)
for want in (b"\xc7\x6a\x00", b"\x7b\x3f\xa6", b"\x2e\x85\x40"):
    assert any(want in r for r in rows), "colour %s missing" % want.hex()
PY
chrome --dump-dom "file://$WORK/report.html" >dom.html
check "the DOM was dumped" test -s dom.html
python3 - dom.html >dom.txt <<'PY'
import html.parser, sys
class T(html.parser.HTMLParser):
    def __init__(s): super().__init__(); s.out = []
    def handle_data(s, d): s.out.append(d)
t = T(); t.feed(open(sys.argv[1]).read()); print(" ".join(" ".join(t.out).split()))
PY
dom_has() { grep -qF -- "$1" dom.txt && pass || { fail "the page's text lacks '$1' ($2)"; head -c 2000 dom.txt; echo; }; }
dom_has "Drift report of stack shop" "title"
dom_has "Result: drift found (exit code 2)" "the result"
dom_has "prod drift 1 0 0 1 0" "prod's row in the environments table"
dom_has "dev clean 0 0 0 0 0" "dev's row"
dom_has 'changed outside cairn: tags.Name: recorded "shop-prod", actual "renamed <b>by</b> hand"' "the cell's details"
dom_has "unmanaged aws.subnet $HAND" "the unmanaged subnet's row"
dom_has "in sync" "clean cells"
dom_has "Someone changed the object outside cairn" "the legend explains the kinds"
done_testing
