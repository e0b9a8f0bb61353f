"""Table models, one module per table; importing this package registers them all."""

from app.models.api_key import ApiKey
from app.models.event import Event
from app.models.idempotency import IdempotencyRecord
from app.models.tenant import Tenant

__all__ = ["ApiKey", "Event", "IdempotencyRecord", "Tenant"]
