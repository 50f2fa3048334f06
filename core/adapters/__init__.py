"""Venue adapters: everything that speaks one outside service's protocol lives under one folder per venue."""
