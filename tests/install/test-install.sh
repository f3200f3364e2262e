#!/bin/sh
# test-install.sh: foctet as a third party gets it.  Installs the build
# into a temporary directory (meson install --destdir), builds
# examples/transport-unix out of the tree against that installation only
# (its headers and foctet-1.pc), and runs the installed foctet-shell with
# the installed plugins and the example's: `plugins` lists it, and a
# `serve` on a Unix socket answers two pings over it.
#
#   test-install.sh BUILD_DIR SOURCE_DIR
#
# The environment gives the build's layout (FOCTET_PREFIX, FOCTET_BINDIR,
# FOCTET_LIBDIR, FOCTET_PLUGINDIR: absolute, as configured), its
# b_sanitize (FOCTET_SANITIZE) and the tools (MESON, NINJA, PKG_CONFIG,
# and CC: the compiler foctet was built with).
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu

build=$1
source=$2

work=$(mktemp -d "${TMPDIR:-/tmp}/foctet-install.XXXXXX")
serve_pid=
cleanup() {
  if [ -n "$serve_pid" ]; then
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Runs "$@" with its output in $work/log; on failure shows it, and fails.
run() {
  if ! "$@" >"$work/log" 2>&1; then
    cat "$work/log" >&2
    fail "$*"
  fi
}

dest=$work/dest
# Nothing of the real home, and the plugins of the destdir only.
export HOME="$work/home" XDG_DATA_HOME="$work/home/data" XDG_STATE_HOME="$work/home/state" XDG_CONFIG_HOME="$work/home/config"
export LD_LIBRARY_PATH="$dest$FOCTET_LIBDIR"
export FOCTET_PLUGIN_SYSTEM_PATH="$dest$FOCTET_PLUGINDIR"
unset FOCTET_PLUGIN_PATH

echo "# meson install --destdir $dest"
run timeout 60 "$MESON" install -C "$build" --destdir "$dest" --no-rebuild
shell=$dest$FOCTET_BINDIR/foctet-shell
pc=$dest$FOCTET_LIBDIR/pkgconfig/foctet-1.pc
for f in "$shell" "$pc" "$dest$FOCTET_PLUGINDIR/libfoctet-mux-yamux.so" "$dest$FOCTET_PREFIX/include/foctet-1/foctet.h"; do
  [ -f "$f" ] || fail "not installed: $f"
done

# The Python overrides, where the Python that has PyGObject finds them
# (builds with introspection).
if [ -n "${FOCTET_PYTHON_DIR:-}" ]; then
  echo "# Python: gi/overrides/Foctet.py"
  [ -f "$dest$FOCTET_PYTHON_DIR/gi/overrides/Foctet.py" ] || fail "not installed: $dest$FOCTET_PYTHON_DIR/gi/overrides/Foctet.py"
  run env PYTHONPATH="$dest$FOCTET_PYTHON_DIR" GI_TYPELIB_PATH="$dest$FOCTET_TYPELIB_DIR" PYTHONDONTWRITEBYTECODE=1 \
    "$FOCTET_PYTHON" -c "
import gi
gi.require_version('Foctet', '1')
from gi.repository import Foctet
a = Foctet.Identity.generate().get_node_id()
assert a == Foctet.NodeId.parse(str(a)), 'NodeId has no __eq__: the overrides were not loaded'
"
fi

# pkg-config moves no single package of several into a destdir:
# PKG_CONFIG_SYSROOT_DIR moves glib's paths too, and --define-prefix
# guesses the prefix wrong under a multiarch libdir.  So a copy of
# foctet-1.pc with its prefix moved, which moves every path in it only if
# they all follow from ${prefix}, as they must for a relocatable package.
mkdir -p "$work/pkgconfig"
grep -qxF "prefix=$FOCTET_PREFIX" "$pc" || fail "foctet-1.pc has no prefix=$FOCTET_PREFIX"
sed "s|^prefix=.*|prefix=$dest$FOCTET_PREFIX|" "$pc" >"$work/pkgconfig/foctet-1.pc"
export PKG_CONFIG_PATH="$work/pkgconfig"
plugin_map=$("$PKG_CONFIG" --variable=plugin_map foctet-1)
[ -f "$plugin_map" ] || fail "pkg-config --variable=plugin_map foctet-1: no file $plugin_map"
plugindir=$("$PKG_CONFIG" --variable=plugindir foctet-1)
[ "$plugindir" = "$dest$FOCTET_PLUGINDIR" ] || fail "plugindir is $plugindir, not $dest$FOCTET_PLUGINDIR"

echo "# building examples/transport-unix against it"
example=$work/example
# Instrumented as foctet was, under the sanitizers: it runs in the
# installed foctet-shell, whose executable carries their run-time.
sanitize=
if [ "${FOCTET_SANITIZE:-none}" != none ]; then
  sanitize="-Db_sanitize=$FOCTET_SANITIZE -Db_lundef=false"
fi
# shellcheck disable=SC2086 # $sanitize is zero or two words
run timeout 60 "$MESON" setup "$example" "$source/examples/transport-unix" -Dwerror=true \
  -Dpkg_config_path="$work/pkgconfig" $sanitize
run timeout 120 "$NINJA" -C "$example"
module=$example/libfoctet-transport-unix.so
[ -f "$module" ] || fail "no $module"
# It would be installed with foctet's plugins.
run "$MESON" introspect "$example" --installed
grep -qF "\"$plugindir/libfoctet-transport-unix.so\"" "$work/log" || { cat "$work/log" >&2; fail "not installed into $plugindir"; }
# The version script leaves the registry's four symbols exported, no more.
if command -v nm >/dev/null; then
  exported=$(nm -D --defined-only "$module" | awk '{ print $3 }' | sort | tr '\n' ' ')
  [ "$exported" = "foctet_plugin_desc g_io_module_load g_io_module_query g_io_module_unload " ] ||
    fail "the module exports: $exported"
fi

echo "# foctet-shell plugins"
run timeout 20 "$shell" --plugin-path "$example" plugins
grep -qxF "transport unix $module" "$work/log" || { cat "$work/log" >&2; fail "plugins lists no transport unix $module"; }
grep -qxF "muxer yamux $dest$FOCTET_PLUGINDIR/libfoctet-mux-yamux.so" "$work/log" ||
  { cat "$work/log" >&2; fail "plugins lists no installed yamux"; }

echo "# serve on a Unix socket, ping over it"
socket=$work/node.sock
# --foreground: timeout signals serve alone, not its process group too,
# where a second SIGTERM would end serve's clean shutdown.
timeout --foreground 60 "$shell" --plugin-path "$example" --identity "$work/serve.key" \
  serve --no-mdns --listen "unix/$socket" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
ticket=
for _ in $(seq 200); do
  ticket=$(head -n 1 "$work/serve.out" 2>/dev/null || true)
  [ -n "$ticket" ] && grep -qF "listening on unix/$socket " "$work/serve.err" && break
  ticket=
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ticket" ] || { cat "$work/serve.err" >&2; fail "serve did not start listening on unix/$socket"; }
[ -S "$socket" ] || fail "no socket at $socket"

run timeout 20 "$shell" --plugin-path "$example" --identity "$work/ping.key" ping "$ticket" \
  --address "unix/$socket" --count 2
cat "$work/log"
[ "$(grep -c '^seq=[0-9]* rtt=.* via=unix$' "$work/log")" = 2 ] || fail "not two replies via=unix"

# Stopped, serve exits 0, and the transport removed its socket file.
kill -TERM "$serve_pid"
status=0
wait "$serve_pid" || status=$?
serve_pid=
[ "$status" = 0 ] || { cat "$work/serve.err" >&2; fail "serve exited with $status"; }
[ ! -e "$socket" ] || fail "$socket is left after serve stopped"
echo "# ok"
