#!/usr/bin/env bash
# Copy the two C libraries the CUDA device check needs beyond CUDA itself (cJSON and
# zlib: headers and shared objects, from this machine's Debian packages libcjson-dev
# and zlib1g-dev) into .devdeps/ at the repository root, for machines that lack them
# (the GPU machine's image has no -dev packages and no network). .devdeps/ is ignored
# by git; name it in the device tool's `carry`. Both libraries need only libc.
set -euo pipefail
cd "$(dirname "$0")/../.."
multi=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
rm -rf .devdeps && mkdir -p .devdeps/include/cjson .devdeps/lib
cp /usr/include/cjson/cJSON.h .devdeps/include/cjson/
cp /usr/include/zlib.h /usr/include/zconf.h .devdeps/include/
for lib in libcjson.so.1 libz.so.1; do
    src=$(readlink -f "/usr/lib/$multi/$lib")
    cp "$src" ".devdeps/lib/$lib"
    ln -sf "$lib" ".devdeps/lib/${lib%.1}"
done
du -sh .devdeps
