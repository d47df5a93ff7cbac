"""The obsmem dashboard and JSON API: a Flask app over a `Memory` (factory in `dashboard.app`).

The library (`obsmem`) never imports this package; `obsmem serve` (`dashboard.serve`) is the one bridge.
"""
