"""Table models, one module per table (or per small family of tables).

Importing this package imports every module in it, so ``SQLModel.metadata`` (and with
it Alembic's autogenerate) always knows every table.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
