#!/bin/sh
# The image's entrypoint: reads secrets from files, then runs `careline "$@"`.
#
# careline reads its settings from config files and CARELINE__<SECTION>__<KEY> environment
# variables only; it cannot read a key from a file. Docker/compose secrets and Kubernetes
# secret volumes are files (/run/secrets/<name>). So, for every variable NAME_FILE that is set
# (NAME being CARELINE__... or PGPASSWORD), this script exports NAME with the file's contents
# (trailing newlines removed) and unsets NAME_FILE:
#
#   CARELINE__AUTH__JWT_KEY_FILE=/run/secrets/jwt_key   ->  CARELINE__AUTH__JWT_KEY=<contents>
#   PGPASSWORD_FILE=/run/secrets/postgres_password      ->  PGPASSWORD=<contents> (libpq reads it
#                                                           when database.url has no password)
#
# NAME_FILE must be unset before careline starts: careline refuses unknown keys, and
# CARELINE__AUTH__JWT_KEY_FILE would be read as the (unknown) key auth.jwt_key_file.
# Setting both NAME and NAME_FILE is an error, so a forgotten variable cannot silently win.
#
# Then it execs careline, so careline is PID 1 and receives SIGTERM from `docker stop`
# directly (it needs no init: it starts no child processes).
set -eu

names=$(env | sed -n 's/^\(CARELINE__[A-Z0-9_]*\|PGPASSWORD\)_FILE=.*/\1/p')
for name in $names; do
  file=$(printenv "${name}_FILE")
  if printenv "$name" >/dev/null; then
    echo "careline-entrypoint: both $name and ${name}_FILE are set; set only one" >&2
    exit 1
  fi
  if [ ! -r "$file" ]; then
    echo "careline-entrypoint: ${name}_FILE=$file: cannot read the file (missing, or not readable by uid $(id -u))" >&2
    exit 1
  fi
  value=$(cat "$file")
  if [ -z "$value" ]; then
    echo "careline-entrypoint: ${name}_FILE=$file: the file is empty" >&2
    exit 1
  fi
  export "$name=$value"
  unset "${name}_FILE"
done

exec /usr/local/bin/careline "$@"
