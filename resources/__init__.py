"""Package data: icons (resources/icons; the installers and the About dialog use them)."""
