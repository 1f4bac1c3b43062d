#!/usr/bin/env bash
# Builds llama-server from the very llama.cpp that the installed llama-cpp-python vendors, so
# the server backend and the in-process backend run the same code. The binary is cached per
# llama-cpp-python version; a second run prints the cached path and does nothing else.
#
# Usage: scripts/build_llama_server.sh [VERSION]
#   VERSION  llama-cpp-python version (default: the installed one)
# Env:     PLAYGROUND_CI_CACHE  cache folder (default ~/.cache/playground-ci)
#          BUILD_JOBS           parallel compile jobs (default: number of cores)
# Prints:  the path of the llama-server binary (last line of stdout).
set -euo pipefail

version="${1:-$(python -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')}"
cache="${PLAYGROUND_CI_CACHE:-$HOME/.cache/playground-ci}"
dest="$cache/llama-server-$version"
bin="$dest/llama-server"
if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi

for tool in cmake c++ python; do
    command -v "$tool" >/dev/null || { echo "build_llama_server: '$tool' is missing; install it (Debian: apt-get install cmake g++)" >&2; exit 1; }
done

src="$cache/src"
sdist="$src/llama_cpp_python-$version.tar.gz"
mkdir -p "$src"
if [ ! -f "$sdist" ]; then
    # the same source distribution pip built llama-cpp-python from
    python -m pip download --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$src" >&2
fi

work="$(mktemp -d "$cache/build-XXXXXX")"
trap 'rm -rf "$work"' EXIT
tar -xzf "$sdist" -C "$work" "llama_cpp_python-$version/vendor"
llama="$work/llama_cpp_python-$version/vendor/llama.cpp"

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# One target, static, no web UI (it would be downloaded), no tests or examples: the shortest
# build that still has router mode (subprocess) and HTTPS (OpenSSL when its headers exist).
cmake -S "$llama" -B "$work/build" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DGGML_NATIVE=ON >&2
cmake --build "$work/build" --target llama-server -j "${BUILD_JOBS:-$(nproc)}" >&2

mkdir -p "$dest"
cp "$work/build/bin/llama-server" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$bin"
