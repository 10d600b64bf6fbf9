#!/bin/bash
# The image's HEALTHCHECK: GET /healthz on the local port, success on HTTP 200.
#
# The runtime image has no curl or wget (fewer tools for an intruder, fewer packages to patch);
# bash can open TCP connections itself through /dev/tcp. The port is the one careline listens
# on (CARELINE__SERVER__PORT, 8080 by default). Exit 0 healthy, 1 not.
set -euo pipefail

port="${CARELINE__SERVER__PORT:-8080}"
host="${CARELINE__SERVER__HOST:-127.0.0.1}"
# Listening on every interface: ask over loopback.
case "$host" in 0.0.0.0 | :: | "[::]") host=127.0.0.1 ;; esac

exec 3<>"/dev/tcp/${host}/${port}"
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 5 status <&3
exec 3<&-
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "careline-healthcheck: /healthz answered: ${status%$'\r'}" >&2; exit 1 ;;
esac
