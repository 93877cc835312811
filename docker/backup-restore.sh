#!/bin/sh
# Compatibility wrapper: the verbs of the old backup-restore.sh, carried out by pgtier, so that
# runbooks like `docker exec <container> backup-restore.sh restore-database FILE DB` keep working.
# FILE is a path, a file name inside a tier folder of /backups, or latest-full /
# latest-differential / latest-incremental. Options after the arguments go to pgtier unchanged
# (restore-database FILE DB --as NEW, restore-latest --replace, …).
set -eu

usage() {
    cat <<'TXT'
usage: backup-restore.sh VERB [ARGS] [PGTIER OPTIONS]
  list                           archives, newest first            (pgtier list)
  list-databases FILE            databases in an archive           (pgtier restore list-databases)
  restore-database FILE DB       one database; --as NEW, --replace (pgtier restore database)
  restore-full FILE              the whole cluster; --replace      (pgtier restore full)
  restore-latest                 the newest state; --if-empty, --replace, --dry-run
                                                                   (pgtier restore latest)
TXT
}

need() { # COUNT VERB ARGS...
    count=$1 verb=$2
    shift 2
    if [ "$#" -lt "$count" ]; then
        echo "backup-restore.sh: $verb needs $count argument(s)" >&2
        usage >&2
        exit 2
    fi
}

[ "$#" -ge 1 ] || { usage >&2; exit 2; }
verb=$1
shift
case "$verb" in
    list) exec pgtier list "$@" ;;
    list-databases) need 1 "$verb" "$@"; exec pgtier restore list-databases "$@" ;;
    restore-database) need 2 "$verb" "$@"; exec pgtier restore database "$@" ;;
    restore-full) need 1 "$verb" "$@"; exec pgtier restore full "$@" ;;
    restore-latest) exec pgtier restore latest "$@" ;;
    -h | --help | help) usage; exit 0 ;;
    *) echo "backup-restore.sh: unknown verb '$verb'" >&2; usage >&2; exit 2 ;;
esac
