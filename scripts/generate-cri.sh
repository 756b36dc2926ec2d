#!/bin/sh
# Regenerates Sources/BerthCRIProto from the pinned CRI proto (../shared/peer-suites/cri-api/api.proto).
# The generated Swift is committed: building the two protoc plugins takes minutes, and the proto
# changes only when the pin does. Debian's protoc (3.21) predates the proto's `debug_redact`
# option, so the protoc bundled with grpcio-tools (in the tests' virtualenv) runs the plugins.
# Only the methods' descriptors are generated for gRPC: berthd registers a handler for each RPC it
# serves, and the server answers UNIMPLEMENTED for the rest, as containerd 1.6 does for RuntimeConfig.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
proto_dir=${CRI_PROTO_DIR:-$repo/../shared/peer-suites/cri-api}
python=${PYTHON:-$repo/.build/venv/bin/python}
work=$(mktemp -d /tmp/berth-crigen-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/Sources/Plugins"
echo 'public let unused = 0' > "$work/Sources/Plugins/Plugins.swift"
# The plugins at the versions Package.swift links, so the generated code matches its runtime.
cat > "$work/Package.swift" <<'SWIFT'
// swift-tools-version:6.1
import PackageDescription
let package = Package(name: "crigen",
  dependencies: [.package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
                 .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1")],
  targets: [.target(name: "Plugins")])
SWIFT
(cd "$work" && swift build -c release --product protoc-gen-swift && swift build -c release --product protoc-gen-grpc-swift-2)
bin=$work/.build/release
"$python" -m grpc_tools.protoc -I"$proto_dir" \
    --plugin=protoc-gen-swift="$bin/protoc-gen-swift" --swift_out="$repo/Sources/BerthCRIProto" --swift_opt=Visibility=Public \
    --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" --grpc-swift-2_out="$repo/Sources/BerthCRIProto" \
    --grpc-swift-2_opt=Visibility=Public,Client=false,Server=false \
    "$proto_dir/api.proto"
