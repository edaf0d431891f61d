#!/usr/bin/env bash
# localsweep for a cluster without internet: a folder of wheels (a "wheelhouse") of localsweep
# and every dependency, built where there is network, carried over, installed with no index.
#
#   tools/wheelhouse.sh build DIR [--python-version 3.11] [--platform manylinux_2_28_x86_64]
#                                 [--extras postgres,ui] [--source PATH]
#   tools/wheelhouse.sh install DIR [--extras postgres,ui] [pip install options...]
#
# build: a wheel of localsweep itself (from --source, by default the checkout this script is
# in), then `pip download` of all its dependencies into DIR. Without --python-version and
# --platform the wheels are for this machine; with them, for the cluster's Python and
# platform (binary wheels only, as pip cannot build for another platform). Files already
# in DIR are not downloaded again, so DIR can be kept and refreshed.
# install: `pip install --no-index --find-links DIR localsweep[EXTRAS]`, run with the Python
# of the environment to install into ($PYTHON, default python3; a virtual env's python).
# docs/air-gapped.md has the whole procedure.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
here="$(cd "$(dirname "$0")" && pwd)"

usage() {
  sed -n '5,6p' "$0" | sed 's/^# *//' >&2
  exit 2
}

[ $# -ge 2 ] || usage
command="$1"
dir="$2"
shift 2

extras=""
source_dir="$(dirname "$here")"
target=()
pip_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --extras) extras="$2"; shift 2 ;;
    --source) source_dir="$2"; shift 2 ;;
    --python-version) target+=(--python-version "$2"); shift 2 ;;
    --platform) target+=(--platform "$2"); shift 2 ;;
    *)
      if [ "$command" = install ]; then pip_args+=("$1"); shift
      else echo "wheelhouse.sh: unknown option $1" >&2; usage
      fi ;;
  esac
done
requirement="localsweep${extras:+[$extras]}"

case "$command" in
  build)
    mkdir -p "$dir"
    # localsweep itself: a pure-Python wheel, good for any platform. Built from a clean copy
    # of the sources, as setuptools would otherwise reuse (and ship) a stale build/ folder.
    build_dir="$(mktemp -d)"
    trap 'rm -rf "$build_dir"' EXIT
    cp -R "$source_dir/pyproject.toml" "$source_dir/README.md" "$source_dir/localsweep" "$build_dir/"
    find "$build_dir" -name __pycache__ -prune -exec rm -rf {} +
    "$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$dir" "$build_dir"
    version="$(cd "$dir" && ls -t localsweep-*.whl | head -n 1 | cut -d- -f2)"
    # Its dependencies, resolved against the wheel just built (pinned, so that no other
    # localsweep from an index is taken instead).
    if [ ${#target[@]} -gt 0 ]; then
      target+=(--only-binary=:all:)
    fi
    "$PYTHON" -m pip download --quiet --dest "$dir" --find-links "$dir" \
      ${target[@]+"${target[@]}"} "${requirement}==${version}"
    count="$(ls "$dir" | wc -l)"
    echo "wheelhouse $dir: localsweep $version and its dependencies, $count files." >&2
    echo "Carry it over, then: tools/wheelhouse.sh install $dir${extras:+ --extras $extras}" >&2
    ;;
  install)
    [ -d "$dir" ] || { echo "wheelhouse.sh: no folder $dir" >&2; exit 2; }
    "$PYTHON" -m pip install --no-index --find-links "$dir" \
      ${pip_args[@]+"${pip_args[@]}"} "$requirement"
    ;;
  *) usage ;;
esac
