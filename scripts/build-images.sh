#!/usr/bin/env bash
# Build the local test images with `docker import` (no registry is ever contacted):
#   abaco/busybox abaco/echo abaco/fail abaco/sleep   (busybox-static rootfs, ~1 MB)
#   abaco/python3                                      (debootstrap minbase bookworm + python3-minimal + full stdlib)
#   abaco/pyactor                                      (abaco/python3 + sdk/abaco_actor.py + tests/images/caller.py)
#   abaco/probe abaco/forkbomb abaco/membomb           (abaco/python3 + a script of tests/images/, via docker commit)
#   abaco/envdump                                      (likewise: prints its _actor_configs* variables)
# Images that already exist are skipped; rootfs tarballs are cached under /var/cache/abaco.
# Needs a running docker daemon (scripts/up.sh starts one). Quiet on success.
#   FORCE=1 scripts/build-images.sh     rebuild every image (cached tarballs are reused)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE=/var/cache/abaco
LOG="$HERE/.data/logs/build-images.log"
mkdir -p "$CACHE" "$(dirname "$LOG")"
: > "$LOG"

die() { echo "build-images: $*" >&2; exit 1; }
run() {  # run quietly, show the log tail on failure
  if ! "$@" >>"$LOG" 2>&1; then
    echo "build-images: failed: $*" >&2; tail -n 30 "$LOG" >&2; exit 1
  fi
}
have_image() { [ -z "${FORCE:-}" ] && docker image inspect "$1" >/dev/null 2>&1; }

docker info >/dev/null 2>&1 || die "no docker daemon answers (start one with: make up)"
command -v busybox >/dev/null || die "busybox-static is not installed (run scripts/install.sh)"

TMP="$(mktemp -d /tmp/abaco-images.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT

PATH_ENV='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# ---------------------------------------------------------------- busybox rootfs
BB_VERSION="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null | tr -c 'A-Za-z0-9.+\n-' '_' || echo unknown)"
BB_TAR="$CACHE/busybox-rootfs-${BB_VERSION}.tar"

make_busybox_tar() {
  local root="$TMP/busybox"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,tmp,var/tmp,proc,sys,dev}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 0700 "$root/root"
  install -m 0755 "$(command -v busybox)" "$root/bin/busybox"
  # every applet becomes a symlink to /bin/busybox (same layout as `busybox --install -s`)
  local applet
  while read -r applet; do
    [ -n "$applet" ] && [ "$applet" != bin/busybox ] || continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
  done < <("$root/bin/busybox" --list-full)
  [ -x "$root/bin/sh" ] || ln -sf /bin/busybox "$root/bin/sh"
  cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat > "$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
  echo 'hosts: files dns' > "$root/etc/nsswitch.conf"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$BB_TAR.tmp" .
  mv "$BB_TAR.tmp" "$BB_TAR"
}

import_busybox() {  # name cmd-json
  local name="$1" cmd="$2"
  have_image "$name" && return 0
  [ -s "$BB_TAR" ] || make_busybox_tar
  run docker import --change "$PATH_ENV" --change "CMD $cmd" "$BB_TAR" "$name"
}

import_busybox abaco/busybox:latest '["/bin/sh"]'
import_busybox abaco/echo:latest \
  '["/bin/sh","-c","echo \"message: $MSG\"; echo \"execution: $_abaco_execution_id\"; echo \"content-type: $_abaco_Content_Type\""]'
import_busybox abaco/fail:latest '["/bin/sh","-c","echo \"failing: $MSG\"; exit 3"]'
import_busybox abaco/sleep:latest '["/bin/sh","-c","sleep ${SLEEP_SECONDS:-3}; echo \"slept: $MSG\""]'

# ---------------------------------------------------------------- python3 (debootstrap)
SUITE=bookworm
PY_TAR="$CACHE/python3-${SUITE}-minbase-stdlib-rootfs.tar"

# The Debian mirror this machine's apt already uses: first `deb` source that carries $SUITE.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822 stanzas are separated by blank lines
    awk -v suite="$SUITE" '
      function flush() {
        if (uris != "" && types ~ /(^| )deb( |$)/ && enabled !~ /^[Nn]o/ && (" " suites " ") ~ (" " suite " ")) {
          split(uris, u, " "); print u[1]; found = 1; exit
        }
        uris = ""; suites = ""; types = ""; enabled = ""
      }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "uris:"    { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
      tolower($1) == "suites:"  { $1 = ""; suites = $0; sub(/^ +/, "", suites) }
      tolower($1) == "types:"   { $1 = ""; types = $0; sub(/^ +/, "", types) }
      tolower($1) == "enabled:" { enabled = $2 }
      END { if (!found) flush() }
    ' "$f"
  done | head -n 1 | grep . && return 0
  # one-line format: deb [opts] URI SUITE COMPONENTS...
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | sed -e 's/#.*//' -e 's/\[[^]]*\]//' \
    | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' | grep .
}

make_python_tar() {
  command -v debootstrap >/dev/null || die "debootstrap is not installed (run scripts/install.sh)"
  local mirror root="$TMP/python3"
  mirror="$(apt_mirror)" || die "could not find a '$SUITE' deb source in /etc/apt/sources.list{,.d}"
  echo "debootstrap $SUITE from $mirror" >>"$LOG"
  run debootstrap --variant=minbase --include=python3-minimal,libpython3-stdlib "$SUITE" "$root" "$mirror"
  # keep it small: no package lists, caches, docs, man pages or locales
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
         "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
         "$root"/usr/share/locale/* "$root"/usr/share/lintian "$root"/var/log/* \
         "$root"/var/lib/dpkg/*-old "$root"/debootstrap
  tar --numeric-owner -C "$root" -cf "$PY_TAR.tmp" .
  mv "$PY_TAR.tmp" "$PY_TAR"
}

if ! have_image abaco/python3:latest; then
  [ -s "$PY_TAR" ] || make_python_tar
  run docker import --change "$PATH_ENV" --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3","-c","import os; print('"'"'message:'"'"', os.environ.get('"'"'MSG'"'"'))"]' \
    "$PY_TAR" abaco/python3:latest
fi

# ---------------------------------------------------------------- pyactor (actors calling the API)
# abaco/python3 plus the actor SDK (sdk/abaco_actor.py in /opt/abaco, on PYTHONPATH: any script
# can `import abaco_actor`) and tests/images/caller.py, committed like the probe; the label
# hashes both files, so a change to either rebuilds the image.
pyactor_sum="$(cat "$HERE/sdk/abaco_actor.py" "$HERE/tests/images/caller.py" | sha256sum | cut -c1-12)"
if [ -n "${FORCE:-}" ] || [ "$(docker image inspect -f '{{index .Config.Labels "abaco.pyactor"}}' abaco/pyactor:latest 2>/dev/null)" != "$pyactor_sum" ]; then
  mkdir -p "$TMP/pyactor"
  install -m 0644 "$HERE/sdk/abaco_actor.py" "$TMP/pyactor/abaco_actor.py"
  cid="$(docker create abaco/python3:latest)"
  run docker cp "$TMP/pyactor" "$cid:/opt/abaco"
  run docker cp "$HERE/tests/images/caller.py" "$cid:/caller.py"
  run docker commit --change 'ENV PYTHONPATH=/opt/abaco' --change 'CMD ["python3","/caller.py"]' \
    --change "LABEL abaco.pyactor=$pyactor_sum" "$cid" abaco/pyactor:latest
  run docker rm "$cid"
fi

# ---------------------------------------------------------------- probe (isolation tests)
# abaco/python3 plus tests/images/probe.py, committed from a stopped container (no build, no registry)
probe_sum="$(sha256sum "$HERE/tests/images/probe.py" | cut -c1-12)"
if [ -n "${FORCE:-}" ] || [ "$(docker image inspect -f '{{index .Config.Labels "abaco.probe"}}' abaco/probe:latest 2>/dev/null)" != "$probe_sum" ]; then
  cid="$(docker create abaco/python3:latest)"
  run docker cp "$HERE/tests/images/probe.py" "$cid:/probe.py"
  run docker commit --change 'CMD ["python3","/probe.py"]' --change "LABEL abaco.probe=$probe_sum" "$cid" abaco/probe:latest
  run docker rm "$cid"
fi

# ---------------------------------------------------------------- resource bombs (limit tests)
# abaco/python3 plus a script of tests/images/, committed like the probe; the label holds the
# script's hash, so a changed script rebuilds its image.
commit_python_script() {  # image script label
  local name="$1" script="$2" label="$3" sum cid
  sum="$(sha256sum "$HERE/tests/images/$script" | cut -c1-12)"
  if [ -n "${FORCE:-}" ] || [ "$(docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$name" 2>/dev/null)" != "$sum" ]; then
    cid="$(docker create abaco/python3:latest)"
    run docker cp "$HERE/tests/images/$script" "$cid:/$script"
    run docker commit --change "CMD [\"python3\",\"/$script\"]" --change "LABEL $label=$sum" "$cid" "$name"
    run docker rm "$cid"
  fi
}
commit_python_script abaco/forkbomb:latest forkbomb.py abaco.forkbomb
commit_python_script abaco/membomb:latest membomb.py abaco.membomb
commit_python_script abaco/envdump:latest envdump.py abaco.envdump  # prints _actor_configs* (configs tests)
commit_python_script abaco/results:latest results.py abaco.results  # sends three result datagrams (results tests)
commit_python_script abaco/ticker:latest ticker.py abaco.ticker  # a line every 0.5 s for 6 s (live logs tests)
commit_python_script abaco/binsum:latest binsum.py abaco.binsum  # size and sha256 of /_abaco_binary_data (binary tests)
commit_python_script abaco/printenv:latest printenv.py abaco.printenv  # MSG, _abaco_* and Time_msg_queued (cron tests)
