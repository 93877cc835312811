# shellcheck shell=bash
# S3 helpers for integration tests: a throwaway one-node Ceph cluster (one monitor, one memstore
# OSD, one RADOS Gateway) on loopback, everything under $WORK/ceph, no authentication between
# the daemons. Source it after lib.sh.
#
#   s3_start              start the cluster and create an S3 user; exports S3_ENDPOINT,
#                         S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, and S3_TLS_ENDPOINT (the same
#                         gateway over HTTPS, self-signed) with S3_TLS_CA (its certificate)
#   s3_stop_gateway       stop radosgw only (an outage); s3_start_gateway brings it back on the
#                         same ports and waits until it answers
#   s3_mb BUCKET          create a bucket
#   s3_ls BUCKET [PREFIX] "KEY SIZE" per object, all pages
#   s3_get BUCKET KEY FILE / s3_put BUCKET KEY FILE / s3_rm BUCKET KEY
# For the offsite tests, with B (the backup directory), CFG, BUCKET and PREFIX set:
#   offsite_bucket        s3_start, create BUCKET, write the credentials to $WORK/access_key and
#                         $WORK/secret_key
#   offsite_toml DIR [LINE...]  a configuration: [storage] dir = DIR, [offsite] for
#                         s3://BUCKET/PREFIX with those credential files, then the extra lines
#   bucket_state          every key under PREFIX/ with its size, sorted
#   bucket_matches_local  the keys under PREFIX/ are exactly the local archive files of B (archive,
#                         sidecar, manifest) and each object holds the local file's bytes
# These use the curl command line (not pgtier) so that a test checks what pgtier did with an
# independent client. Keys given to them must not need URL-encoding.
# The daemons are killed (by their pid files) when the test exits, through lib.sh's cleanup hooks.

S3_REGION=us-east-1
_S3_DIR=$WORK/ceph

_s3_conf() { echo "$_S3_DIR/ceph.conf"; }

# N consecutive free loopback ports; prints the first. The OSD binds several ports from a range,
# so one kernel-chosen port is not enough. 20000-32000 stays below the kernel's ephemeral ports
# (32768 up), where outgoing connections and lib.sh's _free_port take theirs.
_s3_free_range() {
    local n=$1 base i try
    for try in $(seq 1 50); do
        base=$((20000 + (RANDOM * 32768 + RANDOM + try) % 12000))
        for ((i = 0; i < n; i++)); do
            # A connect that succeeds means someone listens there.
            if (exec 3<>"/dev/tcp/127.0.0.1/$((base + i))") 2>/dev/null; then continue 2; fi
        done
        echo "$base"
        return 0
    done
    echo "no free port range of $n found" >&2
    return 1
}

# Kills the daemons whose pid files are given (only pids that are still Ceph daemons: a stale
# file must not kill an unrelated process) and waits until they are gone.
_s3_kill_pidfiles() {
    local pidfile pid i
    local -a pids=()
    for pidfile in "$@"; do
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        case $(cat "/proc/$pid/comm" 2>/dev/null) in
            ceph-mon | ceph-osd | radosgw) kill -KILL "$pid" 2>/dev/null && pids+=("$pid") ;;
        esac
        rm -f "$pidfile"
    done
    for pid in "${pids[@]}"; do
        for i in $(seq 1 100); do
            [ -e "/proc/$pid" ] || break
            sleep 0.05
        done
    done
}

_s3_cleanup() {
    _s3_kill_pidfiles "$_S3_DIR"/run/*.pid
}

# Waits until the gateway answers HTTP (any status) on $S3_ENDPOINT.
_s3_wait_gateway() {
    local i
    for i in $(seq 1 300); do
        if curl -s -o /dev/null --max-time 2 "$S3_ENDPOINT/"; then return 0; fi
        sleep 0.1
    done
    echo "radosgw did not answer on $S3_ENDPOINT within 30 s; its log:" >&2
    tail -n 30 "$_S3_DIR/log/client.rgw.test.log" >&2 || true
    return 1
}

s3_start_gateway() {
    radosgw -c "$(_s3_conf)" -n client.rgw.test >>"$_S3_DIR/log/radosgw.out" 2>&1 \
        || { cat "$_S3_DIR/log/radosgw.out" >&2; return 1; }
    _s3_wait_gateway
}

s3_stop_gateway() {
    _s3_kill_pidfiles "$_S3_DIR/run/client.rgw.test.pid"
    # The port must be closed before the caller tests an outage.
    local i
    for i in $(seq 1 100); do
        curl -s -o /dev/null --max-time 1 "$S3_ENDPOINT/" || return 0
        sleep 0.05
    done
    echo "radosgw still answers on $S3_ENDPOINT after being killed" >&2
    return 1
}

_s3_make_cert() {
    local dir=$_S3_DIR/tls
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" \
        >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; return 1; }
}

s3_start() {
    local d=$_S3_DIR conf base mon_port rgw_port tls_port fsid id t0
    t0=$EPOCHREALTIME
    mkdir -p "$d"/{run,log,mon,osd,rgw}
    _CLEANUP_HOOKS+=(_s3_cleanup)
    conf=$(_s3_conf)
    # Ports: base = monitor, +1 radosgw HTTP, +2 radosgw HTTPS, +3..+9 for the OSD's messengers.
    base=$(_s3_free_range 10)
    mon_port=$base rgw_port=$((base + 1)) tls_port=$((base + 2))
    fsid=$(uuidgen)
    _s3_make_cert
    # \$name and \$id are Ceph's own metavariables, expanded by each daemon.
    cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind msgr1 = false
ms bind port min = $((base + 3))
ms bind port max = $((base + 9))
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
keyring = /dev/null
run dir = $d/run
pid file = $d/run/\$name.pid
admin socket = $d/run/\$name.asok
log file = $d/log/\$name.log
mon cluster log file = $d/log/cluster.log
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
mon data avail crit = 0
mon data avail warn = 0
[mon]
mon data = $d/mon/\$id
paxos propose interval = 0.1
[osd]
osd data = $d/osd/\$id
osd objectstore = memstore
memstore device bytes = 2147483648
[client.rgw.test]
rgw data = $d/rgw
# Virtual-hosted requests to BUCKET.localhost (curl resolves *.localhost to loopback itself).
rgw dns name = localhost
rgw frontends = beast endpoint=127.0.0.1:$rgw_port ssl_endpoint=127.0.0.1:$tls_port ssl_certificate=$d/tls/cert.pem ssl_private_key=$d/tls/key.pem
CONF
    export S3_ENDPOINT="http://127.0.0.1:$rgw_port" S3_TLS_ENDPOINT="https://127.0.0.1:$tls_port"
    export S3_TLS_CA="$d/tls/cert.pem" S3_REGION
    _s3_run monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$d/monmap"
    _s3_run ceph-mon -c "$conf" --id a --mkfs --monmap "$d/monmap"
    _s3_run ceph-mon -c "$conf" --id a
    id=$(timeout 60 ceph -c "$conf" --connect-timeout 30 osd create 2>>"$d/log/setup.log") \
        || { cat "$d/log/setup.log" >&2; return 1; }
    _s3_run timeout 60 ceph -c "$conf" osd crush add "osd.$id" 1 root=default host=localhost
    mkdir -p "$d/osd/$id"
    _s3_run ceph-osd -c "$conf" --id "$id" --mkfs
    _s3_run ceph-osd -c "$conf" --id "$id"
    s3_start_gateway
    S3_ACCESS_KEY="AK$(uuidgen | tr -d - | cut -c1-18 | tr '[:lower:]' '[:upper:]')"
    S3_SECRET_KEY=$(uuidgen)
    export S3_ACCESS_KEY S3_SECRET_KEY
    _s3_run timeout 60 radosgw-admin -c "$conf" user create --uid test --display-name test \
        --access-key "$S3_ACCESS_KEY" --secret "$S3_SECRET_KEY"
    S3_START_SECONDS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    export S3_START_SECONDS
}

# Runs a setup command with its output in the setup log; shows the log when it fails.
_s3_run() {
    "$@" >>"$_S3_DIR/log/setup.log" 2>&1 || {
        echo "lib_s3: failed: $*" >&2
        tail -n 30 "$_S3_DIR/log/setup.log" >&2
        return 1
    }
}

# curl, signed with the test user's keys (curl 7.88 does not send x-amz-content-sha256 itself).
_s3_curl() {
    curl -sS --fail-with-body --aws-sigv4 "aws:amz:$S3_REGION:s3" \
        --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

s3_mb() { _s3_curl -X PUT -o /dev/null "$S3_ENDPOINT/$1"; }
s3_get() { _s3_curl -o "$3" "$S3_ENDPOINT/$1/$2"; }
s3_put() { _s3_curl -T "$3" -o /dev/null "$S3_ENDPOINT/$1/$2"; }
s3_rm() { _s3_curl -X DELETE -o /dev/null "$S3_ENDPOINT/$1/$2"; }

# Lists with ListObjectsV2, following continuation tokens. The XML is split with sed (the
# gateway writes each element on one line); the five XML entities are decoded.
s3_ls() {
    local bucket=$1 prefix=${2:-} token="" page query
    while :; do
        # Query parameters in sorted order: curl 7.88 signs the query string as written.
        query=""
        [ -z "$token" ] || query="continuation-token=$(_s3_urlencode "$token")&"
        query+="list-type=2"
        [ -z "$prefix" ] || query+="&prefix=$(_s3_urlencode "$prefix")"
        page=$(_s3_curl "$S3_ENDPOINT/$bucket?$query") || { echo "$page" >&2; return 1; }
        printf '%s\n' "${page//<Contents>/$'\n'}" | sed -n 's|.*<Key>\(.*\)</Key>.*<Size>\([0-9]*\)</Size>.*|\1 \2|p' \
            | sed 's/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&apos;/'"'"'/g; s/&amp;/\&/g'
        grep -q '<IsTruncated>true</IsTruncated>' <<<"$page" || break
        token=$(sed -n 's|.*<NextContinuationToken>\(.*\)</NextContinuationToken>.*|\1|p' <<<"$page")
        [ -n "$token" ] || { echo "s3_ls: truncated page without a continuation token" >&2; return 1; }
    done
}

# Percent-encodes everything but S3's unreserved characters (A-Z a-z 0-9 - _ . ~).
_s3_urlencode() {
    local s=$1 out="" c i
    local LC_ALL=C
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [A-Za-z0-9._~-]) out+=$c ;;
            *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    echo "$out"
}

# shellcheck disable=SC2153  # BUCKET, PREFIX and B are the calling test's (see the header)
offsite_bucket() {
    s3_start
    pass "radosgw up in ${S3_START_SECONDS}s at $S3_ENDPOINT"
    s3_mb "$BUCKET"
    printf '%s\n' "$S3_ACCESS_KEY" >"$WORK/access_key"
    printf '%s\n' "$S3_SECRET_KEY" >"$WORK/secret_key"
}

# shellcheck disable=SC2153  # as above
offsite_toml() {
    local dir=$1
    shift
    printf '[storage]\ndir = "%s"\n[offsite]\nurl = "s3://%s/%s"\nendpoint = "%s"\npath_style = true\n' \
        "$dir" "$BUCKET" "$PREFIX" "$S3_ENDPOINT"
    printf 'access_key_id_file = "%s"\nsecret_access_key_file = "%s"\n' "$WORK/access_key" "$WORK/secret_key"
    [ $# -eq 0 ] || printf '%s\n' "$@"
}

bucket_state() { s3_ls "$BUCKET" "$PREFIX/" | sort; }

bucket_matches_local() {
    local f key want=""
    while IFS= read -r f; do
        key="$PREFIX/${f#"$B"/}"
        want+="$key $(stat -c %s "$f")"$'\n'
        s3_get "$BUCKET" "$key" "$WORK/object"
        [ "$(sha256sum <"$WORK/object")" = "$(sha256sum <"$f")" ] || fail "$key: the bucket's bytes differ from $f"
    done < <(find "$B"/full "$B"/differential "$B"/incremental -maxdepth 1 -type f ! -name '.*' 2>/dev/null | sort)
    [ "$(bucket_state)" = "$(printf '%s' "$want" | sort)" ] || fail "the bucket under $PREFIX/ holds:
$(bucket_state)
expected:
$want"
}
