"""What the registry decides: naming rules, registration, virtual servers, the catalog.

No web or RPC framework is imported here; `app.py` and `rpc.py` translate to and
from these functions. Kept import-free so `store` may use `domain.models`.
"""
