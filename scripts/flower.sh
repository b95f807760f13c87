#!/bin/sh
# Runs its arguments, a Flower command line, with greenbar's Flower settings:
# - GREENBAR_FLOWER_BIND (default 127.0.0.1) becomes Flower's --address (Flower's own default is
#   every interface). GREENBAR_FLOWER_PUBLISH_ADDRESS names where Flower is reached when that
#   differs (compose publishes a container's port on a host address).
# - GREENBAR_FLOWER_BASIC_AUTH (user:password[,user:password]), when set and not empty, becomes
#   Flower's own FLOWER_BASIC_AUTH. The environment keeps passwords off the command line (ps).
#   Flower treats any FLOWER_BASIC_AUTH, even an empty one, as "auth on", and an empty one would
#   lock everybody out; so an empty one is unset and no auth is asked for.
# Flower shows every task's arguments and every worker: reached beyond loopback with no auth
# (basic or Flower's own OAuth, FLOWER_AUTH) it refuses to start, unless GREENBAR_INSECURE_OPEN=1,
# and then it says so.
#   Usage: sh scripts/flower.sh celery -A tasks.worker flower [flower options]
set -eu
if [ -n "${GREENBAR_FLOWER_BASIC_AUTH:-}" ]; then
  export FLOWER_BASIC_AUTH="$GREENBAR_FLOWER_BASIC_AUTH"
elif [ -z "${FLOWER_BASIC_AUTH:-}" ]; then
  unset FLOWER_BASIC_AUTH
fi
bind=${GREENBAR_FLOWER_BIND:-127.0.0.1}
reached=${GREENBAR_FLOWER_PUBLISH_ADDRESS:-$bind}
case "$reached" in
  127.*|localhost|::1|"[::1]") ;;
  *)
    if [ -z "${FLOWER_BASIC_AUTH:-}" ] && [ -z "${FLOWER_AUTH:-}" ]; then
      case "${GREENBAR_INSECURE_OPEN:-}" in
        1|true|yes|on)
          echo "flower.sh: WARNING GREENBAR_INSECURE_OPEN: Flower is reached on $reached with no auth" >&2 ;;
        *)
          echo "flower.sh: Flower would be reached on $reached with no auth: set" \
            "GREENBAR_FLOWER_BASIC_AUTH (or GREENBAR_INSECURE_OPEN=1 to open it on purpose)" >&2
          exit 2 ;;
      esac
    fi ;;
esac
exec "$@" --address="$bind"
