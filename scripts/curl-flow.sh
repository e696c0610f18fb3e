#!/usr/bin/env bash
# The whole artifact-store flow with curl and standard shell tools only: create a package (Connect
# JSON), upload one file single-shot (curl -T) and one through a chunked upload session, finalize,
# fetch the manifest (CBOR and JSON), and download with Range and If-None-Match, checking every
# status and verifying the bytes with sha256sum. Run by test/e2e/curl-flow.test.ts; also a worked
# example for anyone scripting against the service. `--help` for usage.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/curl-flow.sh [--help]

Runs the whole artifact-store flow against a running service with curl only, printing one
"ok <step> ..." line per step, and stops at the first unexpected answer.

Environment:
  ARTIFACTSTORE_URL     control plane base URL (default http://127.0.0.1:8000)
  ARTIFACTSTORE_TOKEN   bearer token with write access (required; a local `npm start`
                        writes an admin token to ./var/dev-token)

Steps:
  health                 GET /healthz: the control plane answers and a data plane is live
  create-package         POST /artifactstore.v1.RegistryService/CreatePackage (Connect JSON)
  upload-put             PUT /packages/{id}/files/{path} with curl -T, via the control plane's 307
  session-create         POST /uploads (JSON) -> upload id and the data plane's session URL
  session-patch          PATCH {url} with Content-Range, one line per chunk
  session-head           HEAD {url} -> Upload-Offset
  session-stale-chunk    a repeated chunk is refused with 416 and the current offset
  session-complete       POST {url}/complete -> the file, digests checked against sha256sum
  finalize               POST /artifactstore.v1.RegistryService/FinalizePackage (Connect JSON)
  manifest-cbor          GET /packages/{id}/manifest (application/cbor, digest header checked)
  manifest-json          GET /packages/{id}/manifest.json (both files and their sha256 listed)
  download               GET both files (by path and by file id), verified with sha256sum
  download-range         GET with Range -> 206, Content-Range and the exact bytes
  download-not-modified  GET with If-None-Match: <ETag> -> 304, no body
  download-archive       GET /packages/{id}/archive (tar): both files extracted with tar, sha256 verified

Redirects: the control plane answers byte routes with 307 to a data plane on another port. curl
does not forward Authorization to another port unless told to, so those requests use
--location-trusted (only point this script at a service whose redirects you trust).

Exit status: 0 when every step passed, 1 at the first failed step (the step, the expected and the
received status and the start of the response body go to stderr), 2 for usage errors.
EOF
}

case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
  '') ;;
  *)
    echo "curl-flow: unknown argument: $1 (try --help)" >&2
    exit 2
    ;;
esac

BASE_URL="${ARTIFACTSTORE_URL:-http://127.0.0.1:8000}"
BASE_URL="${BASE_URL%/}"
TOKEN="${ARTIFACTSTORE_TOKEN:-}"
if [ -z "$TOKEN" ]; then
  echo "curl-flow: ARTIFACTSTORE_TOKEN is not set (a local \`npm start\` writes one to ./var/dev-token)" >&2
  exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/curl-flow.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
BODY="$WORK/body"
HEADERS="$WORK/headers"
# The token goes to curl through a header file (mode 0600 in a 0700 directory), not the command line
# where `ps` would show it.
AUTH="$WORK/auth-header"
(umask 077 && printf 'Authorization: Bearer %s\n' "$TOKEN" >"$AUTH")

# fail STEP MESSAGE: reports the failed step with the start of the last response body, exits 1.
fail() {
  echo "FAIL $1: $2" >&2
  if [ -s "$BODY" ]; then
    echo "  response body: $(head -c 600 "$BODY" | tr -d '\r')" >&2
  fi
  exit 1
}

ok() {
  echo "ok $*"
}

# http STEP EXPECTED_STATUS CURL_ARGS...: one request with the token; body to $BODY, headers (of
# every response, when redirects are followed) to $HEADERS; fails unless the final status matches.
http() {
  local step="$1" expected="$2" status
  shift 2
  : >"$BODY"
  : >"$HEADERS"
  if ! status="$(curl -sS --connect-timeout 10 --max-time 300 -H @"$AUTH" -o "$BODY" -D "$HEADERS" -w '%{http_code}' "$@")"; then
    fail "$step" "curl could not complete the request (its message is above)"
  fi
  if [ "$status" != "$expected" ]; then
    fail "$step" "expected HTTP $expected, got $status"
  fi
}

# json_string NAME [FILE]: the first string value of field NAME in a JSON document (default $BODY).
# Enough for the flat, machine-written answers of this API; not a JSON parser.
json_string() {
  { grep -o "\"$1\" *: *\"[^\"]*\"" "${2:-$BODY}" || true; } | sed -n '1s/.*: *"\(.*\)"$/\1/p'
}

# header NAME: the value of response header NAME, from the last response when redirects were followed.
header() {
  { grep -i "^$1:" "$HEADERS" || true; } | tr -d '\r' | sed -n '$s/^[^:]*: *//p'
}

# need STEP WHAT VALUE: fails when VALUE is empty.
need() {
  if [ -z "$3" ]; then
    fail "$1" "no $2 in the response"
  fi
}

sha256_of() {
  sha256sum "$1" | cut -d ' ' -f 1
}

# slice FILE START LENGTH: LENGTH bytes of FILE from offset START, to stdout. (head first: `tail | head`
# would kill tail with SIGPIPE, which pipefail turns into a silent exit.)
slice() {
  head -c "$(($2 + $3))" "$1" | tail -c "$3"
}

# ---------------------------------------------------------------------------------------------------
# Two test files of random bytes: one over 1 MiB (curl sends it with Expect: 100-continue, which the
# redirect and the data plane's authorization must handle), one uploaded in three chunks.
PUT_PATH="reports/summary.bin"
PUT_FILE="$WORK/put.bin"
PUT_SIZE=1572864
head -c "$PUT_SIZE" /dev/urandom >"$PUT_FILE"
PUT_SHA="$(sha256_of "$PUT_FILE")"

SESSION_PATH="logs/run.log"
SESSION_FILE="$WORK/session.bin"
SESSION_SIZE=700000
head -c "$SESSION_SIZE" /dev/urandom >"$SESSION_FILE"
SESSION_SHA="$(sha256_of "$SESSION_FILE")"
CHUNK=262144

# --- health ---------------------------------------------------------------------------------------
http health 200 "$BASE_URL/healthz"
if ! grep -q '"data_planes" *: *\[ *{' "$BODY"; then
  fail health "no live data plane listed by $BASE_URL/healthz"
fi
ok health "control plane $BASE_URL answers, a data plane is live"

# --- create a package (Connect JSON) ---------------------------------------------------------------
http create-package 200 -X POST -H 'Content-Type: application/json' \
  --data-binary '{"producer":"curl-flow","subject":"curl-only flow","retentionClass":"transient","metadata":{"script":"scripts/curl-flow.sh"}}' \
  "$BASE_URL/artifactstore.v1.RegistryService/CreatePackage"
PACKAGE_ID="$(json_string packageId)"
need create-package packageId "$PACKAGE_ID"
ok create-package "$PACKAGE_ID"

# --- single-shot upload: curl -T through the control plane's 307 ----------------------------------
http upload-put 201 --location-trusted -T "$PUT_FILE" \
  -H 'Content-Type: application/octet-stream' \
  -H "X-Artifact-Sha256: sha256:$PUT_SHA" \
  "$BASE_URL/packages/$PACKAGE_ID/files/$PUT_PATH"
PUT_FILE_ID="$(json_string file_id)"
PUT_BLAKE3="$(json_string blake3)"
need upload-put file_id "$PUT_FILE_ID"
need upload-put blake3 "$PUT_BLAKE3"
if [ "$(json_string sha256)" != "sha256:$PUT_SHA" ]; then
  fail upload-put "the server's sha256 $(json_string sha256) is not sha256:$PUT_SHA"
fi
ok upload-put "$PUT_PATH $PUT_SIZE bytes as $PUT_FILE_ID ($PUT_BLAKE3)"

# --- upload session: create, PATCH chunks, HEAD the offset, complete --------------------------------
http session-create 201 --location-trusted -X POST -H 'Content-Type: application/json' \
  --data-binary "{\"package_id\":\"$PACKAGE_ID\",\"relative_path\":\"$SESSION_PATH\",\"media_type\":\"text/plain\",\"expected_size\":$SESSION_SIZE,\"expected_sha256\":\"sha256:$SESSION_SHA\"}" \
  "$BASE_URL/uploads"
UPLOAD_ID="$(json_string upload_id)"
UPLOAD_URL="$(json_string url)"
need session-create upload_id "$UPLOAD_ID"
need session-create url "$UPLOAD_URL"
ok session-create "$UPLOAD_ID at $UPLOAD_URL"

# patch_chunk START: sends bytes START..START+CHUNK-1 (or to the end) of the session file.
patch_chunk() {
  local start="$1" length end part="$WORK/chunk"
  length=$((SESSION_SIZE - start < CHUNK ? SESSION_SIZE - start : CHUNK))
  end=$((start + length - 1))
  slice "$SESSION_FILE" "$start" "$length" >"$part"
  http "${2:-session-patch}" "${3:-204}" -X PATCH -T "$part" \
    -H 'Content-Type: application/octet-stream' \
    -H "Content-Range: bytes $start-$end/$SESSION_SIZE" \
    "$UPLOAD_URL"
  PATCH_RANGE="bytes $start-$end/$SESSION_SIZE"
}

# expect_offset STEP N: the last response said Upload-Offset: N.
expect_offset() {
  local offset
  offset="$(header Upload-Offset)"
  if [ "$offset" != "$2" ]; then
    fail "$1" "Upload-Offset is '$offset', expected $2"
  fi
}

patch_chunk 0
expect_offset session-patch "$CHUNK"
ok session-patch "$PATCH_RANGE -> offset $CHUNK"

http session-head 200 -I "$UPLOAD_URL"
expect_offset session-head "$CHUNK"
ok session-head "offset $CHUNK, status $(header Upload-Status)"

# Sending the first chunk again is a chunk at the wrong offset: refused, and the answer says where to go on.
patch_chunk 0 session-stale-chunk 416
expect_offset session-stale-chunk "$CHUNK"
ok session-stale-chunk "416 for $PATCH_RANGE, offset still $CHUNK"

offset="$CHUNK"
while [ "$offset" -lt "$SESSION_SIZE" ]; do
  patch_chunk "$offset"
  offset=$((offset + CHUNK < SESSION_SIZE ? offset + CHUNK : SESSION_SIZE))
  expect_offset session-patch "$offset"
  ok session-patch "$PATCH_RANGE -> offset $offset"
done

http session-head 200 -I "$UPLOAD_URL"
expect_offset session-head "$SESSION_SIZE"
ok session-head "offset $SESSION_SIZE of $(header Upload-Length)"

http session-complete 201 -X POST --data-binary '' "$UPLOAD_URL/complete"
SESSION_FILE_ID="$(json_string file_id)"
need session-complete file_id "$SESSION_FILE_ID"
if [ "$(json_string sha256)" != "sha256:$SESSION_SHA" ]; then
  fail session-complete "the server's sha256 $(json_string sha256) is not sha256:$SESSION_SHA"
fi
ok session-complete "$SESSION_PATH $SESSION_SIZE bytes as $SESSION_FILE_ID"

# --- finalize (Connect JSON) ------------------------------------------------------------------------
http finalize 200 -X POST -H 'Content-Type: application/json' \
  --data-binary "{\"packageId\":\"$PACKAGE_ID\",\"provenance\":{\"tool\":\"curl-flow.sh\"}}" \
  "$BASE_URL/artifactstore.v1.RegistryService/FinalizePackage"
MANIFEST_DIGEST="$(json_string manifestDigest)"
need finalize manifestDigest "$MANIFEST_DIGEST"
if [ "$(json_string status)" != "PACKAGE_STATUS_FINALIZED" ]; then
  fail finalize "package status is '$(json_string status)'"
fi
ok finalize "$PACKAGE_ID manifest $MANIFEST_DIGEST"

# --- manifest: canonical CBOR and its JSON projection -----------------------------------------------
http manifest-cbor 200 "$BASE_URL/packages/$PACKAGE_ID/manifest"
case "$(header Content-Type)" in
  application/cbor*) ;;
  *) fail manifest-cbor "Content-Type is '$(header Content-Type)', expected application/cbor" ;;
esac
if [ "$(header artifactstore-manifest-digest)" != "$MANIFEST_DIGEST" ]; then
  fail manifest-cbor "manifest digest header '$(header artifactstore-manifest-digest)' is not $MANIFEST_DIGEST"
fi
ok manifest-cbor "$(($(wc -c <"$BODY"))) bytes, $MANIFEST_DIGEST"

http manifest-json 200 "$BASE_URL/packages/$PACKAGE_ID/manifest.json"
for expected in "\"relative_path\":\"$PUT_PATH\"" "\"relative_path\":\"$SESSION_PATH\"" "\"sha256\":\"sha256:$PUT_SHA\"" "\"sha256\":\"sha256:$SESSION_SHA\""; do
  if ! grep -qF "$expected" "$BODY"; then
    fail manifest-json "the manifest does not contain $expected"
  fi
done
ok manifest-json "lists $PUT_PATH and $SESSION_PATH with their sha256"

# --- downloads, verified with sha256sum ----------------------------------------------------------------
# verify_body STEP SHA: the last body's sha256 is SHA.
verify_body() {
  local got
  got="$(sha256_of "$BODY")"
  if [ "$got" != "$2" ]; then
    fail "$1" "downloaded bytes have sha256 $got, expected $2"
  fi
}

http download 200 --location-trusted "$BASE_URL/packages/$PACKAGE_ID/files/$PUT_PATH"
verify_body download "$PUT_SHA"
ETAG="$(header ETag)"
if [ "$ETAG" != "\"$PUT_BLAKE3\"" ]; then
  fail download "ETag is '$ETAG', expected \"$PUT_BLAKE3\""
fi
ok download "$PUT_PATH by path: sha256 verified, ETag $ETAG"

http download 200 --location-trusted "$BASE_URL/files/$SESSION_FILE_ID/download"
verify_body download "$SESSION_SHA"
ok download "$SESSION_PATH by file id: sha256 verified"

RANGE_START=1000
RANGE_END=70999
http download-range 206 --location-trusted -H "Range: bytes=$RANGE_START-$RANGE_END" \
  "$BASE_URL/packages/$PACKAGE_ID/files/$PUT_PATH"
expected_range="bytes $RANGE_START-$RANGE_END/$PUT_SIZE"
if [ "$(header Content-Range)" != "$expected_range" ]; then
  fail download-range "Content-Range is '$(header Content-Range)', expected '$expected_range'"
fi
slice "$PUT_FILE" "$RANGE_START" "$((RANGE_END - RANGE_START + 1))" >"$WORK/slice"
verify_body download-range "$(sha256_of "$WORK/slice")"
ok download-range "206 $expected_range, sha256 verified"

http download-not-modified 304 --location-trusted -H "If-None-Match: $ETAG" \
  "$BASE_URL/packages/$PACKAGE_ID/files/$PUT_PATH"
if [ -s "$BODY" ]; then
  fail download-not-modified "a 304 answer carried a body"
fi
ok download-not-modified "304 for If-None-Match: $ETAG"

http download-archive 200 --location-trusted "$BASE_URL/packages/$PACKAGE_ID/archive"
mkdir "$WORK/archive"
if ! tar -xf "$BODY" -C "$WORK/archive"; then
  fail download-archive "tar could not extract the archive"
fi
for pair in "$PUT_PATH:$PUT_SHA" "$SESSION_PATH:$SESSION_SHA"; do
  if [ ! -f "$WORK/archive/${pair%%:*}" ] || [ "$(sha256_of "$WORK/archive/${pair%%:*}")" != "${pair##*:}" ]; then
    fail download-archive "the archive does not hold ${pair%%:*} with sha256 ${pair##*:}"
  fi
done
ok download-archive "both files extracted with tar, sha256 verified"

echo "done: package $PACKAGE_ID finalized with 2 files (manifest $MANIFEST_DIGEST)"
