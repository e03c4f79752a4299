#!/bin/sh
# Regenerate src/gen/ from the .proto files in this directory.
#
#   npm run gen -w @holdfast/proto      (or: sh packages/proto/proto/generate.sh)
#
# Needs protoc (3.19+) on PATH or at $PROTOC, and ts-proto installed in
# node_modules (the workspace root's, found by walking up). The output is
# committed, so ordinary builds never run this.
set -eu

PROTO_DIR=$(cd "$(dirname "$0")" && pwd)
PKG_DIR=$(dirname "$PROTO_DIR")
OUT_DIR="$PKG_DIR/src/gen"
PROTOC=${PROTOC:-protoc}

# Find ts-proto's plugin: the nearest node_modules/.bin walking up from the
# package (npm workspaces hoist it to the repository root).
PLUGIN=""
dir=$PKG_DIR
while :; do
  if [ -x "$dir/node_modules/.bin/protoc-gen-ts_proto" ]; then
    PLUGIN="$dir/node_modules/.bin/protoc-gen-ts_proto"
    break
  fi
  parent=$(dirname "$dir")
  [ "$parent" = "$dir" ] && break
  dir=$parent
done
if [ -z "$PLUGIN" ]; then
  echo "generate.sh: protoc-gen-ts_proto not found in any node_modules/.bin above $PKG_DIR (run npm install)" >&2
  exit 1
fi
command -v "$PROTOC" >/dev/null 2>&1 || { echo "generate.sh: protoc not found (set PROTOC)" >&2; exit 1; }

# ts-proto options; README.md explains each choice.
OPTS="forceLong=bigint"              # int64/uint64 as bigint: revisions, lease and member ids use all 64 bits
OPTS="$OPTS,outputServices=grpc-js"  # service definitions + Server/Client types for @grpc/grpc-js
OPTS="$OPTS,esModuleInterop=true"
OPTS="$OPTS,importSuffix=.js"        # ESM/NodeNext relative imports
OPTS="$OPTS,env=node"                # bytes as Buffer
OPTS="$OPTS,snakeToCamel=keys"       # TS keys camelCase; JSON keys stay the proto names
OPTS="$OPTS,protoJsonFormat=false"   # ...needed so toJSON really emits the proto names (etcd's gateway style)
OPTS="$OPTS,outputJsonMethods=true"
OPTS="$OPTS,outputPartialMethods=true"
OPTS="$OPTS,useOptionals=messages"   # message fields are `field?: T`
# oneof: ts-proto's default (each member an optional property); see README.md.

# Every .proto under this directory, as paths relative to it (sorted so the
# invocation is stable).
FILES=$(cd "$PROTO_DIR" && find . -name '*.proto' | sed 's#^\./##' | LC_ALL=C sort)

rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR"
cd "$PROTO_DIR"
# shellcheck disable=SC2086 # FILES is a whitespace-separated list on purpose
"$PROTOC" \
  -I "$PROTO_DIR" \
  --plugin=protoc-gen-ts_proto="$PLUGIN" \
  --ts_proto_out="$OUT_DIR" \
  --ts_proto_opt="$OPTS" \
  $FILES

# ts-proto hard-codes a decode recursion limit of 100 nested messages. A
# TxnRequest nests two levels per txn, and etcd accepts txns nested up to
# --max-txn-ops + 1 deep, so the limit is raised to 1,024 (measured: the
# decoders recurse through 2,000 levels on Node 20's default stack; 6,000
# overflow it). src/strict/strict-decode.ts's maxMessageDepth stays below.
find "$OUT_DIR" -name '*.ts' -exec sed -i 's/previousRecursionDepth >= 100)/previousRecursionDepth >= 1024)/' {} +

echo "generated: $(cd "$PKG_DIR" && find src/gen -name '*.ts' | LC_ALL=C sort | tr '\n' ' ')"
