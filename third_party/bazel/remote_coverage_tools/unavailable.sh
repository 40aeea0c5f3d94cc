#!/bin/sh
echo "bazel coverage is not available in this offline build (see third_party/bazel/README.md)" >&2
exit 1
