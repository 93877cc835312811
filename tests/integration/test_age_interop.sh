#!/usr/bin/env bash
# The age module (src/archive/age.cpp) against the reference age CLI (age, age-keygen), driven
# through tests/tools/age_probe.cpp; no PostgreSQL. Files pgtier encrypts decrypt with
# `age -d` byte for byte (sizes around the 64 KiB chunk, several recipients); files `age -r` and
# `age -R` wrote are read whole and by range; age-keygen's identity files are read and
# pgtier's are accepted by age; and what pgtier must refuse (a wrong identity, truncation,
# flipped bytes, swapped chunks, a passphrase file, not an age file) is refused with a message
# that names the file and, for the payload, the chunk.
. "$(dirname "$0")/lib.sh"

PROBE=${PGTIER_AGE_PROBE:-$(dirname "$PGTIER")/pgtier_age_probe}
[ -x "$PROBE" ] || fail "pgtier_age_probe not found at $PROBE (build it, or set PGTIER_AGE_PROBE)"
command -v age >/dev/null && command -v age-keygen >/dev/null \
    || fail "the age and age-keygen commands are needed (Debian: apt-get install age)"
CHUNK=65536
SEALED=$((CHUNK + 16))

# probe TAG ARGS... — runs the probe with $WORK/TAG.out / .err, exit status in RC.
probe() {
    local tag=$1
    shift
    set +e
    timeout -k 5 120 "$PROBE" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err"
    RC=$?
    set -e
}
show() { echo "--- $1: exit $RC; stderr:" >&2; cat "$WORK/$1.err" >&2; }
ok() { [ "$RC" -eq 0 ] || { show "$1"; fail "$2"; }; }
# expect_error TAG TEXT... — exit 1 and every TEXT in the message.
expect_error() {
    local tag=$1 text
    shift
    [ "$RC" -eq 1 ] || { show "$tag"; fail "$tag: exit $RC, want 1"; }
    for text in "$@"; do
        grep -qF -- "$text" "$WORK/$tag.err" || { show "$tag"; fail "$tag: the message lacks '$text'"; }
    done
}
same() { cmp -s "$1" "$2" || fail "$3: $1 and $2 differ"; }
# slice FILE OFFSET LENGTH — those bytes of FILE, to stdout.
slice() { dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none; }

for k in k1 k2 k3; do age-keygen -o "$WORK/$k.key" 2>/dev/null; done
R1=$(age-keygen -y "$WORK/k1.key")
R2=$(age-keygen -y "$WORK/k2.key")

SIZES="0 1 65535 65536 65537 $((3 * CHUNK)) $((3 * CHUNK + 100)) $((5 * 1024 * 1024 + 123))"
for size in $SIZES; do head -c "$size" /dev/urandom >"$WORK/plain.$size"; done

# --- pgtier encrypts, age decrypts.
for size in $SIZES; do
    probe "enc.$size" encrypt "$R1" <"$WORK/plain.$size"
    ok "enc.$size" "encrypting $size bytes"
    age -d -i "$WORK/k1.key" "$WORK/enc.$size.out" >"$WORK/back.$size" \
        || fail "age -d refuses pgtier's encryption of $size bytes"
    same "$WORK/plain.$size" "$WORK/back.$size" "pgtier -> age, $size bytes"
done
pass "pgtier encrypts, age -d decrypts byte-identical: sizes $SIZES"

probe multi encrypt "$R1" "$R2" <"$WORK/plain.65537"
ok multi "encrypting to two recipients"
for k in k1 k2; do
    age -d -i "$WORK/$k.key" "$WORK/multi.out" >"$WORK/multi.$k" || fail "age -d -i $k refuses"
    same "$WORK/plain.65537" "$WORK/multi.$k" "two recipients, $k"
done
if age -d -i "$WORK/k3.key" "$WORK/multi.out" >/dev/null 2>&1; then
    fail "age -d opened the file with an identity it was not encrypted to"
fi
pass "two recipients: each identity alone decrypts with age, a third does not"

# --- age encrypts, pgtier decrypts whole and by range.
for size in $SIZES; do
    age -r "$R1" -o "$WORK/age.$size" "$WORK/plain.$size"
    probe "dec.$size" decrypt "$WORK/k1.key" <"$WORK/age.$size"
    ok "dec.$size" "decrypting age's encryption of $size bytes"
    same "$WORK/plain.$size" "$WORK/dec.$size.out" "age -> pgtier, $size bytes"
done
pass "age -r encrypts, decrypting_source reads it whole byte-identical: sizes $SIZES"

big=$((3 * CHUNK + 100))
for range in "0 1" "65535 2" "65535 1" "65536 1" "65536 65536" "131071 3" "65000 130000" \
    "$((big - 1)) 1" "$((3 * CHUNK)) 100" "0 $big" "$((2 * CHUNK - 1)) $((CHUNK + 2))"; do
    read -r offset length <<<"$range"
    probe range range "$WORK/k1.key" "$offset" "$length" "$WORK/age.$big"
    ok range "range $offset +$length"
    slice "$WORK/plain.$big" "$offset" "$length" >"$WORK/range.want"
    same "$WORK/range.want" "$WORK/range.out" "range $offset +$length"
done
probe range-past range "$WORK/k1.key" "$((big - 1))" 2 "$WORK/age.$big"
expect_error range-past "$WORK/age.$big is truncated" "should end at byte $((big + 1))"
pass "ranged reads of age's file at and across chunk boundaries, byte-identical; a range past the end refused"

printf '%s\n# a comment\n%s\n' "$R1" "$R2" >"$WORK/recipients.txt"
age -R "$WORK/recipients.txt" -o "$WORK/age-R" "$WORK/plain.65536"
for k in k1 k2; do
    probe "dec-R.$k" decrypt "$WORK/$k.key" "$WORK/age-R"
    ok "dec-R.$k" "decrypting an age -R file with $k"
    same "$WORK/plain.65536" "$WORK/dec-R.$k.out" "age -R, $k"
done
pass "age -R (a recipients file of two) decrypts with either identity"

# --- Keys.
for k in k1 k2; do
    probe "rcpt.$k" recipients "$WORK/$k.key"
    ok "rcpt.$k" "reading age-keygen's identity file"
    [ "$(cat "$WORK/rcpt.$k.out")" = "$(age-keygen -y "$WORK/$k.key")" ] \
        || fail "recipient_of differs from age-keygen -y for $k"
done
probe keygen keygen
ok keygen keygen
cp "$WORK/keygen.out" "$WORK/pgtier.key"
[ "$(age-keygen -y "$WORK/pgtier.key")" = "$(grep -o 'age1.*' "$WORK/pgtier.key")" ] \
    || fail "age-keygen -y disagrees with the public key of pgtier's identity"
age -r "$(age-keygen -y "$WORK/pgtier.key")" -o "$WORK/to-pgtier-key" "$WORK/plain.65537"
age -d -i "$WORK/pgtier.key" "$WORK/to-pgtier-key" >"$WORK/by-pgtier-key" \
    || fail "age -d -i refuses pgtier's identity file"
same "$WORK/plain.65537" "$WORK/by-pgtier-key" "age with pgtier's identity"
pass "age-keygen identities parsed, recipient_of = age-keygen -y; pgtier's identity works with age -d -i"

# --- Refusals.
probe wrong-key decrypt "$WORK/k3.key" "$WORK/age.65537"
expect_error wrong-key "$WORK/age.65537: none of the configured age identities opens it" X25519

f=$WORK/age.$big # 4 chunks: 3 full, the last 100 bytes
payload=$(($(stat -c %s "$f") - 3 * SEALED - 116)) # where the payload starts
head -c -1 "$f" >"$WORK/cut1"
probe cut1 decrypt "$WORK/k1.key" "$WORK/cut1"
expect_error cut1 "$WORK/cut1: payload chunk 3 (the last) does not authenticate"
head -c -116 "$f" >"$WORK/cut-chunk"
probe cut-chunk decrypt "$WORK/k1.key" "$WORK/cut-chunk"
expect_error cut-chunk "$WORK/cut-chunk: payload chunk 2 (the last) does not authenticate"
head -c -16 "$f" >"$WORK/cut-odd"
probe cut-odd decrypt "$WORK/k1.key" "$WORK/cut-odd"
expect_error cut-odd "$WORK/cut-odd: payload chunk 3 (the last) does not authenticate"
head -c -105 "$f" >"$WORK/cut-size"
probe cut-size decrypt "$WORK/k1.key" "$WORK/cut-size"
expect_error cut-size "$WORK/cut-size: the age payload's size" "truncated"
pass "truncated files refused: a byte, the whole last chunk, a tag's worth, to a size no payload has"

# flip FILE OFFSET OUT — a copy of FILE with the byte at OFFSET inverted.
flip() {
    local byte
    byte=$(slice "$1" "$2" 1 | od -An -tu1 | tr -d ' ')
    cp "$1" "$3"
    printf '%b' "\\0$(printf '%o' $((byte ^ 0xff)))" | dd of="$3" bs=1 seek="$2" conv=notrunc status=none
    cmp -s "$1" "$3" && fail "flip: $3 is unchanged"
    return 0
}
for chunk in 0 1 3; do
    flip "$f" $((payload + chunk * SEALED + 77)) "$WORK/flip.$chunk"
    probe "flip.$chunk" decrypt "$WORK/k1.key" "$WORK/flip.$chunk"
    expect_error "flip.$chunk" "$WORK/flip.$chunk: payload chunk $chunk" "does not authenticate"
done
# A range that does not touch the flipped chunk still reads.
probe flip-range range "$WORK/k1.key" 0 100 "$WORK/flip.3"
ok flip-range "a range before the flipped chunk"
mac_at=$(($(grep -abo -- '^--- ' "$f" | head -n 1 | cut -d: -f1) + 10))
# Another base64 letter, so that the header still parses and only the MAC is wrong.
cp "$f" "$WORK/flip.mac"
if [ "$(slice "$f" "$mac_at" 1)" = A ]; then letter=B; else letter=A; fi
printf '%s' "$letter" | dd of="$WORK/flip.mac" bs=1 seek="$mac_at" conv=notrunc status=none
probe flip-mac decrypt "$WORK/k1.key" "$WORK/flip.mac"
expect_error flip-mac "$WORK/flip.mac: the age header's MAC is wrong"
flip "$f" $((payload - 3)) "$WORK/flip.nonce"
probe flip-nonce decrypt "$WORK/k1.key" "$WORK/flip.nonce"
expect_error flip-nonce "$WORK/flip.nonce: payload chunk 0 does not authenticate"
{
    head -c "$payload" "$f"
    slice "$f" $((payload + SEALED)) $SEALED
    slice "$f" "$payload" $SEALED
    tail -c +$((payload + 2 * SEALED + 1)) "$f"
} >"$WORK/swapped"
probe swapped decrypt "$WORK/k1.key" "$WORK/swapped"
expect_error swapped "$WORK/swapped: payload chunk 0 does not authenticate"
pass "a flipped byte in chunk 0, 1 and the last, in the header MAC and the nonce, and two swapped chunks refused"

# A passphrase file: age -p reads the passphrase from a terminal, which script(1) provides;
# without it, a header of the same shape built here.
if command -v script >/dev/null \
    && printf 'pw\npw\n' | timeout 30 script -qec "age -p -o $WORK/scrypt.age $WORK/plain.1" /dev/null >/dev/null 2>&1 \
    && [ -s "$WORK/scrypt.age" ]; then
    scrypt_made="age -p"
else
    {
        printf 'age-encryption.org/v1\n-> scrypt %s 18\n%s\n--- %s\n' \
            "$(head -c 16 /dev/urandom | base64 | tr -d '=')" \
            "$(head -c 32 /dev/urandom | base64 | tr -d '=')" \
            "$(head -c 32 /dev/urandom | base64 | tr -d '=')"
        head -c 33 /dev/urandom
    } >"$WORK/scrypt.age"
    scrypt_made="a hand-built scrypt header (no script(1) or it failed)"
fi
grep -q '^-> scrypt ' "$WORK/scrypt.age" || fail "the passphrase file has no scrypt stanza"
probe scrypt decrypt "$WORK/k1.key" "$WORK/scrypt.age"
expect_error scrypt "$WORK/scrypt.age: none of the configured age identities opens it" "passphrase-encrypted"
pass "a passphrase file ($scrypt_made) refused: passphrase-encrypted"

head -c 5000 /dev/urandom >"$WORK/garbage"
probe garbage decrypt "$WORK/k1.key" "$WORK/garbage"
expect_error garbage "$WORK/garbage: not a valid age v1 file" "age-encryption.org/v1"
: >"$WORK/empty"
probe empty decrypt "$WORK/k1.key" "$WORK/empty"
expect_error empty "$WORK/empty: the age header is truncated"
age -a -r "$R1" -o "$WORK/armored" "$WORK/plain.1"
probe armored decrypt "$WORK/k1.key" "$WORK/armored"
expect_error armored "$WORK/armored: not a valid age v1 file"
cat "$WORK/age.65536" - <<<"x" >"$WORK/appended"
probe appended decrypt "$WORK/k1.key" "$WORK/appended"
expect_error appended "$WORK/appended: the age payload's size" "appended"
printf 'not a key\n' >"$WORK/bad.key"
probe bad-key decrypt "$WORK/bad.key" "$WORK/age.1"
[ "$RC" -eq 2 ] && grep -qF "$WORK/bad.key line 1" "$WORK/bad-key.err" || { show bad-key; fail "a bad identity file"; }
typo=${R1%?}q
[ "$typo" = "$R1" ] && typo=${R1%?}p
probe bad-rcpt encrypt "$typo" </dev/null
[ "$RC" -eq 2 ] && grep -qF "checksum" "$WORK/bad-rcpt.err" || { show bad-rcpt; fail "a mistyped recipient"; }
pass "not an age file (random bytes, empty, armored, bytes appended) and bad keys refused"
