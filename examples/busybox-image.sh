#!/bin/sh
# Builds a local busybox image from Debian's busybox-static and imports it into stackyard's
# image store, so the examples run on a machine that cannot reach Docker Hub.
#   examples/busybox-image.sh [REFERENCE]     (default: stackyard/busybox:local)
# Then: STACKYARD_EXAMPLE_IMAGE=stackyard/busybox:local stackyard -f examples/quickstart/compose.yaml up -d
set -eu
ref="${1:-stackyard/busybox:local}"
busybox=/bin/busybox
# The image holds nothing but this binary, so it must be the static one (no libc inside).
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  echo "a static busybox is needed at $busybox: apt-get install busybox-static" >&2
  exit 2
fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/www" "$root/data" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
tar -C "$root" -c . | stackyard image import -c 'CMD ["sh"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$ref"
echo "imported $ref"
