"""Angel One (SmartAPI): the broker on smartapi-python, its instrument master, order-book polling and the log-in.

The only package that imports smartapi-python, and only through ``sdk.load_sdk()``: importing the SDK fetches the
machine's public IP without a timeout (see ``sdk``). Import what you use from the submodules.
"""
