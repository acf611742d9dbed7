"""The actors. Each is thin: its docstring is its message contract, it calls one service."""
