#!/bin/sh
# run_package_test.sh — ctest's python_package: the binding as a user installs it (issue #20).
#
#   sh run_package_test.sh PYTHON SOURCE WORK HEADER
#
# PYTHON   the interpreter to make the virtual environment with (ctest: Debian's /usr/bin/python3)
# SOURCE   examples/python of the source tree
# WORK     a folder of the build tree, made afresh: the copy pip builds in, the virtual
#          environment, and the folder the tests run in
# HEADER   engine/include/corq/corq.h (the tests compare the error constants with it)
#
# Copies SOURCE to WORK (pip builds in the tree it installs from, leaving build/ and
# corq.egg-info/ there: never in the source tree), makes the virtual environment and installs the
# copy offline with exactly the command of README.md, then — in a folder outside both trees, with
# CORQ_LIBRARY unset — checks that `import corq` is the installed package and that it found the
# library through pkg-config (the caller sets PKG_CONFIG_PATH), and runs the test suite (which
# also runs bench.py briefly) and the two examples with it. Exit status 0 when all of it passes.
set -eu

if [ $# -ne 4 ]; then
  echo "usage: sh run_package_test.sh PYTHON SOURCE WORK HEADER" >&2
  exit 2
fi
python=$1
source=$2
work=$3
header=$4

rm -rf "$work"
mkdir -p "$work/examples" "$work/run"
cp -R "$source" "$work/examples/python"
# Whatever a developer's runs left in the source folder stays out of the copy.
rm -rf "$work/examples/python/build" "$work/examples/python/corq.egg-info" \
  "$work/examples/python/.mypy_cache"
find "$work/examples/python" -name __pycache__ -prune -exec rm -rf {} +

cd "$work"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
"$python" -m venv --system-site-packages venv
venv/bin/pip install --no-build-isolation --no-index examples/python

cp examples/python/test_corq.py examples/python/bench.py run/
cp -R examples/python/examples run/examples
cd run
unset CORQ_LIBRARY
export CORQ_HEADER="$header"

# The package pip installed (not a copy on sys.path), and pkg-config's libcorq.
../venv/bin/python - <<'EOF'
import os
import subprocess
import sys

import corq

site = os.path.realpath(os.path.join(sys.prefix, "lib"))
package = os.path.realpath(corq.__file__)
if not package.startswith(site + os.sep):
    sys.exit("import corq found %s, not the package installed under %s" % (package, site))
if not os.path.isfile(os.path.join(os.path.dirname(package), "py.typed")):
    sys.exit("the installed package has no py.typed")
libdir = subprocess.run(["pkg-config", "--variable=libdir", "corq"], check=True,
                        stdout=subprocess.PIPE).stdout.decode().strip()
if os.path.dirname(corq.library_path) != libdir:
    sys.exit("corq loaded %s, not the library in pkg-config's libdir %s"
             % (corq.library_path, libdir))
print("python_package: %s, library %s (pkg-config)" % (package, corq.library_path))
EOF

../venv/bin/python -m unittest -v test_corq
../venv/bin/python examples/work_queue.py
../venv/bin/python examples/pubsub.py
