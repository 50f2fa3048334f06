#!/usr/bin/env bash
# Pack StratForge.app into a compressed disk image with an Applications shortcut (drag to install).
#   packaging/macos/build_dmg.sh packaging/dist/StratForge.app packaging/dist/StratForge-0.1.0.dmg 0.1.0
# Run on macOS (hdiutil); packaging/build.py dmg calls it after freezing the .app. The .app is signed ad hoc
# (PyInstaller does that on arm64, we do it again after any change): Gatekeeper still asks on first open
# (right-click > Open). A release for other people needs a Developer ID signature and notarisation:
# set CODESIGN_IDENTITY (e.g. "Developer ID Application: ...") and, after this script, run
# `xcrun notarytool submit <dmg> --wait` and `xcrun stapler staple <dmg>` with the club's Apple credentials.
set -euo pipefail
app="${1:?the .app to pack}"
out="${2:?the .dmg to write}"
version="${3:?the version}"
identity="${CODESIGN_IDENTITY:--}"

if [ "$(uname)" != "Darwin" ]; then
  echo "build_dmg.sh: needs macOS (hdiutil)" >&2
  exit 1
fi
codesign --force --deep --options runtime --sign "$identity" "$app"
codesign --verify --deep --strict "$app"

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
rm -f "$out"
hdiutil create -volname "StratForge $version" -srcfolder "$staging" -fs HFS+ -format UDZO -imagekey zlib-level=9 \
  -ov "$out"
hdiutil verify "$out"
echo "build_dmg.sh: wrote $out ($(du -h "$out" | cut -f1))"
