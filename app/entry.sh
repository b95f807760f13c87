# greenbar's entry script: run as `sh -c "$(cat entry.sh)" greenbar-entry OUT_CAP` inside a
# fresh sandbox container, as the sandbox user. A warm container waits here, at the first read.
#
# IN:  on stdin, a line holding MAX_SECONDS and a NONCE, then a tar of the learner's files,
#      unpacked into /sandbox; in a kata volume, the names listed in its .greenbar-delete (files
#      the client no longer sends) are removed.
# RUN: ./cyber-dojo.sh, its stdout and stderr each captured through a FIFO of which only the
#      first OUT_CAP bytes are kept (the rest is drained and dropped, so a flood neither fills a
#      disk nor stalls the program), killed with its whole session after MAX_SECONDS.
# OUT: on stdout, once every process of the run is dead, the line `greenbar-result NONCE` and
#      one tar holding greenbar/out/{before,stdout,stderr,status,timed_out,oom} and the sandbox/
#      tree. The run's programs share this script's uid and could write to its stdout through
#      /proc: the host ignores everything before the line, whose nonce they never saw.
#      `before` lists the files a kata volume held before the run, which it did not create.
# Capture lives in /greenbar, a tmpfs of its own: a run that fills /tmp cannot starve it.
# Needs only: sh, tar, head, cat, mkfifo, sleep, kill, chmod, and (optionally) setsid, find.

out_cap=$1
read -r max_seconds nonce || exit 94  # sh reads a pipe a byte at a time: the tar stays unread
case $max_seconds in '' | *[!0-9]*) exit 94 ;; esac
g=/greenbar
o=$g/out
mkdir -p "$o" || exit 90
cd /sandbox || exit 91
# Not file times: they are coarse, and busybox's find -newer compares whole seconds.
find . -type f -print0 >"$o/before" 2>/dev/null || rm -f "$o/before"
tar -xf - || { echo "greenbar: could not unpack the files" >&2; exit 92; }
if [ -f .greenbar-delete ]; then
  while IFS= read -r name; do rm -f -- "./$name"; done <.greenbar-delete
  rm -f .greenbar-delete
fi

mkfifo "$g/1" "$g/2" || exit 93
{ head -c "$out_cap" >"$o/stdout"; cat >/dev/null; } <"$g/1" &
r1=$!
{ head -c "$out_cap" >"$o/stderr"; cat >/dev/null; } <"$g/2" &
r2=$!

# Kills every process but init, this script, its own helpers and theirs: whatever escaped
# cyber-dojo.sh's session and still holds the capture FIFOs open. Builtins only: no forks.
sweep() {
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    ppid=
    while read -r key value; do
      case $key in PPid:) ppid=$value; break ;; esac
    done <"$d/status" 2>/dev/null
    case " 1 $$ " in *" $pid "*) continue ;; esac
    case " $$ $r1 $r2 " in *" $ppid "*) continue ;; esac
    kill -9 "$pid" 2>/dev/null
  done
}

# A session of its own lets one kill take cyber-dojo.sh and everything it started.
if command -v setsid >/dev/null 2>&1; then
  setsid sh ./cyber-dojo.sh </dev/null >"$g/1" 2>"$g/2" &
else
  sh ./cyber-dojo.sh </dev/null >"$g/1" 2>"$g/2" &
fi
p=$!
{ sleep "$max_seconds" && : >"$o/timed_out" && kill -9 -"$p" "$p"; } >/dev/null 2>&1 &
w=$!

wait "$p"
status=$?
# Whatever cyber-dojo.sh left running dies now, so the FIFOs reach end of file; anything that
# left its session is swept a second later if the readers are still waiting.
kill -9 -"$p" 2>/dev/null
{ sleep 1; sweep; } >/dev/null 2>&1 &
s=$!
wait "$r1" "$r2"
kill -9 "$w" "$s" 2>/dev/null
sweep # nothing of the run may write once the result has begun
echo "$status" >"$o/status"
for f in /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control; do
  [ -r "$f" ] && cat "$f" >>"$o/oom" 2>/dev/null
done
chmod -R u+rwX /sandbox 2>/dev/null # what the run hid from itself still counts and is seen
printf 'greenbar-result %s\n' "$nonce"
cd / && exec tar -cf - greenbar/out sandbox
