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
# - pip runs with a Python of the cluster's version ($PYTHON, else pythonX.Y on PATH, else
#   pyenv's), as `pip download` evaluates markers such as `python_version < "3.11"` with the
#   Python that runs it, whatever --python-version says (a 3.11 would leave out the tomli a
#   3.10 needs). With none found it stops and says how to get one.
# - A platform manylinux_2_N_ARCH also takes the older manylinux wheels (2_N down to 2_17,
#   and on x86 down to manylinux1), as pip does on such a machine: given one --platform,
#   pip takes that tag alone (numpy for 3.10 and psycopg-binary exist only as 2_17).
# - wandb 0.31 publishes manylinux_2_28 wheels only: an older manylinux platform is refused.
# install: `pip install --no-index --find-links DIR localsweep[EXTRAS]`, run with the Python
# of the environment to install into ($PYTHON, default python3; a virtual env's python).
# docs/air-gapped.md has the whole procedure.
set -euo pipefail

python_given="${PYTHON:-}"
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
python_version=""
platforms=()
pip_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --extras|--source|--python-version|--platform)
      # Last on the line, with no value: say which (set -u would only say "$2: unbound").
      [ $# -ge 2 ] || { echo "wheelhouse.sh: $1 needs a value" >&2; usage; } ;;
  esac
  case "$1" in
    --extras) extras="$2"; shift 2 ;;
    --source) source_dir="$2"; shift 2 ;;
    --python-version) python_version="$2"; target+=(--python-version "$2"); shift 2 ;;
    --platform) platforms+=("$2"); shift 2 ;;
    *)
      if [ "$command" = install ]; then pip_args+=("$1"); shift
      else echo "wheelhouse.sh: unknown option $1" >&2; usage
      fi ;;
  esac
done
requirement="localsweep${extras:+[$extras]}"

# The X.Y of a Python, or nothing if it does not run.
version_of() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

# A Python of version $1 to run pip with (see the top of this file), or exit saying how to get
# one. $PYTHON if given (it must be of that version), else python3, pythonX.Y on PATH, pyenv's.
python_for() {
  local want="$1" candidate found
  if [ -n "$python_given" ]; then
    found="$(version_of "$python_given")"
    [ "$found" = "$want" ] && { echo "$python_given"; return; }
    echo "wheelhouse.sh: PYTHON=$python_given is Python ${found:-(does not run)}, not $want" \
      "(--python-version). pip download picks dependencies with markers such as" \
      "python_version < \"3.11\" for the Python that runs it: give PYTHON=/path/to/python$want." >&2
    exit 2
  fi
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  local candidates=(python3 "python$want")
  # pyenv's shims run only the pyenv version selected, so look in its versions folder.
  while IFS= read -r candidate; do
    candidates+=("$candidate")
  done < <(ls -d "$root"/versions/"$want".*/bin/python"$want" 2>/dev/null | sort -rV)
  for candidate in "${candidates[@]}"; do
    if [ "$(version_of "$candidate")" = "$want" ]; then  # (a pyenv shim may not run)
      command -v "$candidate"
      return
    fi
  done
  echo "wheelhouse.sh: no Python $want found (tried python3, python$want on PATH and" \
    "$root/versions/$want.*). pip download picks dependencies with markers such as" \
    "python_version < \"3.11\" for the Python that runs it, so the wheelhouse must be built" \
    "by a Python $want: install one (pyenv install $want, uv python install $want," \
    "conda create -n py$want python=$want) and run again with PYTHON=/path/to/python$want." >&2
  exit 2
}

case "$command" in
  build)
    if [ -n "$python_version" ]; then
      # 3.10, 3.10.13 or 310 (as pip takes it): the X.Y.
      case "$python_version" in
        [0-9].*) want="$(echo "$python_version" | cut -d. -f1-2)" ;;
        [0-9][0-9]*) want="${python_version:0:1}.${python_version:1}" ;;
        *) echo "wheelhouse.sh: --python-version $python_version: give X.Y, such as 3.11" >&2
           exit 2 ;;
      esac
      PYTHON="$(python_for "$want")" || exit 2
      echo "wheelhouse.sh: running pip with $PYTHON (Python $want)." >&2
    fi
    newest_manylinux=-1
    for platform in ${platforms[@]+"${platforms[@]}"}; do
      target+=(--platform "$platform")
      if [[ "$platform" =~ ^manylinux_2_([0-9]+)_(.+)$ ]]; then
        minor="${BASH_REMATCH[1]}"
        arch="${BASH_REMATCH[2]}"
        # What pip accepts on a machine with glibc 2.N (packaging's _manylinux.platform_tags):
        # every manylinux_2_M down to 2_17, on x86 down to 2_5, and the legacy names.
        lowest=17
        case "$arch" in x86_64 | i686) lowest=5 ;; esac
        for ((m = minor - 1; m >= lowest; m--)); do
          target+=(--platform "manylinux_2_${m}_$arch")
        done
        if [ "$minor" -ge 17 ]; then target+=(--platform "manylinux2014_$arch"); fi
        if [ "$lowest" = 5 ] && [ "$minor" -ge 12 ]; then
          target+=(--platform "manylinux2010_$arch")
        fi
        if [ "$lowest" = 5 ] && [ "$minor" -ge 5 ]; then target+=(--platform "manylinux1_$arch"); fi
        if [ "$minor" -gt "$newest_manylinux" ]; then newest_manylinux="$minor"; fi
      elif [[ "$platform" =~ ^manylinux(1|2010|2014)_ ]] && [ "$newest_manylinux" -lt 0 ]; then
        newest_manylinux=0
      fi
    done
    if [ "$newest_manylinux" -ge 0 ] && [ "$newest_manylinux" -lt 28 ]; then
      echo "wheelhouse.sh: wandb 0.31 publishes Linux wheels for manylinux_2_28 only: a cluster" \
        "needs glibc 2.28 or newer (ldd --version; RHEL/Rocky 8, Ubuntu 20.04, Debian 10 and" \
        "later). Give --platform manylinux_2_28_<arch> (or the cluster's newer glibc)." >&2
      exit 2
    fi
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
