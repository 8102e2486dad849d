"""The roll-up: who is counted (``rules``), the full recompute (``recompute``), the weekly check of
capability masks (``masks``) and the one-statement assistance log (``fastlog``).

Below services and selectors: it imports models, pure helpers, ``permissions`` and ``audit`` only.
"""
