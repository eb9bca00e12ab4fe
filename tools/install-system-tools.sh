#!/bin/sh
# Install the system tools scigenbench uses, with apt, when this user can (root, or passwordless sudo).
#
#   sh tools/install-system-tools.sh demo   # what the demo uses: TeX + poppler (TikZ), bubblewrap (sandbox)
#   sh tools/install-system-tools.sh demo --brief   # `make demo`: one line when it cannot install (the demo's
#                                                   # own banner then lists each missing tool and what it skips)
#   sh tools/install-system-tools.sh test --require   # the tests' tools too: tesseract, Chromium (`.ci/run`)
#
# Otherwise (no apt, no root, sudo asks for a password) it installs nothing, prints what is missing and what
# that skips, and exits 0 (1 with --require): the demo runs anyway and says the same thing before it starts.
set -u

profile="${1:-demo}"
option="${2:-}"
# "command on PATH|Debian packages|what is skipped without it"
DEMO_TOOLS="pdflatex|texlive-latex-base texlive-pictures texlive-latex-recommended texlive-latex-extra lmodern|TikZ figures are skipped (not counted as render failures)
pdftoppm|poppler-utils|TikZ figures are skipped (not counted as render failures)
bwrap|bubblewrap|the sandbox runs without its namespaces (scigenbench doctor lists what is left)"
TEST_TOOLS="tesseract|tesseract-ocr tesseract-ocr-eng|the OCR proxy's tesseract engine is unavailable (RapidOCR, from pip, still works) and its tests skip
chromium|chromium|the Space's browser test skips"
# always installed with the tools: fonts for the figures, the shared libraries pip's opencv-python (RapidOCR) loads
EXTRA_PACKAGES="fonts-dejavu-core libgl1 libglib2.0-0"

case "$profile" in
  demo) tools="$DEMO_TOOLS" ;;
  test) tools="$DEMO_TOOLS
$TEST_TOOLS" ;;
  *) echo "usage: $0 demo|test [--brief|--require]" >&2; exit 2 ;;
esac

missing_packages=""
missing_lines=""
newline='
'
IFS="$newline"
for line in $tools; do
  cmd="${line%%|*}"; rest="${line#*|}"; packages="${rest%%|*}"; skips="${rest#*|}"
  if ! command -v "$cmd" >/dev/null 2>&1; then
    missing_packages="$missing_packages $packages"
    missing_lines="$missing_lines  - $cmd ($packages): $skips$newline"
  fi
done
unset IFS

if [ -z "$missing_packages" ]; then
  echo "system tools: all present for '$profile'"
  exit 0
fi

if [ "$(id -u)" = 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root="sudo -n"
else
  as_root="none"
fi

if [ "$as_root" != none ] && command -v apt-get >/dev/null 2>&1; then
  echo "system tools: installing with apt-get:$missing_packages $EXTRA_PACKAGES"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  if $as_root apt-get update -qq && $as_root apt-get install -y -qq --no-install-recommends \
       $missing_packages $EXTRA_PACKAGES >/dev/null; then
    echo "system tools: installed"
    exit 0
  fi
  echo "system tools: apt-get failed; going on without them" >&2
fi

why="this user is not root and has no passwordless sudo"
command -v apt-get >/dev/null 2>&1 || why="apt-get is not available (not Debian/Ubuntu)"
if [ "$option" = --brief ]; then
  echo "system tools: some are missing and were not installed ($why); the demo runs without them"
  exit 0
fi
echo "================================================================================"
echo "system tools: not installed ($why). Missing:"
printf "%s" "$missing_lines"
echo "Install them yourself, e.g. sudo apt-get install$missing_packages"
echo "================================================================================"
[ "$option" = --require ] && exit 1
exit 0
