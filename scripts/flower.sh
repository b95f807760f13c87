#!/bin/sh
# Runs its arguments, a Flower command line, with greenbar's Flower settings in the environment:
# GREENBAR_FLOWER_BASIC_AUTH (user:password[,user:password]), when set and not empty, becomes
# Flower's own FLOWER_BASIC_AUTH. The environment keeps passwords off the command line (ps).
# Flower treats any FLOWER_BASIC_AUTH, even an empty one, as "auth on", and an empty one would
# lock everybody out; so an empty one is unset and no auth is asked for.
#   Usage: sh scripts/flower.sh celery -A tasks.worker flower [flower options]
set -eu
if [ -n "${GREENBAR_FLOWER_BASIC_AUTH:-}" ]; then
  export FLOWER_BASIC_AUTH="$GREENBAR_FLOWER_BASIC_AUTH"
elif [ -z "${FLOWER_BASIC_AUTH:-}" ]; then
  unset FLOWER_BASIC_AUTH
fi
exec "$@"
