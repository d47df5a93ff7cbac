"""obsmem: graph-plus-vector memory for observability agents.

`from obsmem import Memory` is the in-process API; `obsmem.client.Client` talks
to a running service over HTTP without importing torch or database drivers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from obsmem.errors import ObsmemError, StoreUnavailable, ValidationError  # stdlib only: cheap

__version__ = "0.1.0"
__all__ = ["Memory", "ObsmemError", "StoreUnavailable", "ValidationError", "__version__"]

if TYPE_CHECKING:
    from obsmem.memory import Memory


def __getattr__(name: str) -> Any:
    # Lazy so that `import obsmem.client` never pulls in torch or drivers.
    if name == "Memory":
        from obsmem.memory import Memory

        return Memory
    raise AttributeError(name)
