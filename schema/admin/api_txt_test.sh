#!/bin/sh
# The committed API dump ($1) must equal the one generated from the protos
# ($2): an API change is then always a reviewed diff of v1/api.txt.
if ! diff -u "$1" "$2"; then
	echo "schema/admin/v1/api.txt is stale: the admin API changed. If that is meant," >&2
	echo "regenerate it: bazel build //schema/admin:api_txt &&" >&2
	echo "  cp bazel-bin/schema/admin/api.generated.txt schema/admin/v1/api.txt" >&2
	exit 1
fi
echo "admin API matches schema/admin/v1/api.txt"
