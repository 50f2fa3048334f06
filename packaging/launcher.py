"""The frozen bundle's entry script (PyInstaller runs it as __main__): everything lives in app/frozen.py."""

import sys

from app.frozen import main

if __name__ == "__main__":
    sys.exit(main())
