#!/usr/bin/env bash
# The layout rule of docs/architecture.md, checked: a file includes headers
# only from its own folder or from folders on a lower level. Levels (a
# folder uses only those below it):
#   5 cli
#   4 drift
#   3 engine
#   2 lua, lang, aws, ssh, sim  (peers: none includes another)
#   1 loop, state
#   0 base
# Also: every folder's main header opens with a comment, and nothing in
# loop/ names AWS credentials or signing (the loop knows no cloud).
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root" || exit 1

level() {
	case "$1" in
	provisioner/cli) echo 5 ;;
	provisioner/drift) echo 4 ;;
	provisioner/engine) echo 3 ;;
	lua | provisioner/lang | provisioner/aws | provisioner/ssh | provisioner/sim) echo 2 ;;
	provisioner/loop | state) echo 1 ;;
	provisioner/base) echo 0 ;;
	*) echo "" ;;
	esac
}

# the folder a quoted include names, seen from the including file's folder
target() { # $1 = including folder, $2 = include path
	case "$2" in
	*/*) case "${2%%/*}" in
		lua | state) echo "${2%%/*}" ;;
		*) echo "provisioner/${2%%/*}" ;;
		esac ;;
	*) echo "$1" ;;
	esac
}

bad=0
files=$(git ls-files 'provisioner/*.[ch]' 'lua/*.[ch]' 'state/*.[ch]' 2>/dev/null || find provisioner lua state -name '*.[ch]')
for f in $files; do
	dir=$(dirname "$f")
	case "$dir" in provisioner/sim/*) dir=provisioner/sim ;; esac
	mine=$(level "$dir")
	if [ -z "$mine" ]; then
		echo "layout: $f is in no known folder (provisioner/ has one folder per subsystem)"
		bad=1
		continue
	fi
	while IFS= read -r inc; do
		[ -n "$inc" ] || continue
		to=$(target "$dir" "$inc")
		[ "$to" = "$dir" ] && continue
		theirs=$(level "$to")
		if [ -z "$theirs" ]; then
			echo "layout: $f includes \"$inc\" from an unknown folder"
			bad=1
		elif [ "$theirs" -ge "$mine" ]; then
			echo "layout: $f ($dir, level $mine) includes \"$inc\" ($to, level $theirs): dependencies run downwards only"
			bad=1
		fi
	done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done

for h in provisioner/cli/cli.h provisioner/drift/drift.h provisioner/engine/engine.h provisioner/lang/config.h provisioner/loop/loop.h \
	provisioner/aws/creds.h provisioner/ssh/ssh.h provisioner/base/error.h provisioner/sim/sim.h lua/runtime.h state/store.h; do
	if [ "$(head -c 2 "$h")" != "/*" ]; then
		echo "layout: $h does not open with a comment on what its folder owns"
		bad=1
	fi
done

if grep -n -E 'aws_creds|sigv4_|CURLOPT_AWS_SIGV4|cairn_aws_' provisioner/loop/*.[ch]; then
	echo "layout: provisioner/loop/ knows AWS credentials or signing (it must go through cairn_loop_signer)"
	bad=1
fi

if [ "$bad" -ne 0 ]; then
	exit 1
fi
echo "layout: every include runs downwards"
