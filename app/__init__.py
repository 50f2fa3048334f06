"""StratForge desktop application (Qt). Everything here may import Qt; core/ never does.

This file stays importable on any Python 3 so that `python -m app` can print a clear message on
Pythons that are too old (see app/entry.py).
"""
