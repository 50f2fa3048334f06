"""The virtualization proxy: each trader's virtual books on one shared broker account (DESIGN.md)."""
