"""Lazy package attributes (PEP 562), so ``jaxfair --help`` does not import JAX, torch or BoTorch.

A package lists its public names and where they live; each is imported on first use. A
public function that shares its name with a submodule (``jaxfair.evaluate``,
``jaxfair.bo.report``) stays the function even after the submodule is imported elsewhere.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["lazy_package"]


def lazy_package(name: str, exports: dict[str, str]):
    """Make package ``name`` load ``exports`` lazily; returns ``(__getattr__, __dir__)`` for it.

    Args:
      name: the package's ``__name__``.
      exports: public name → ``"module:attribute"`` (an attribute of a module) or ``"module"``
        (the module itself). Any other submodule also loads on attribute access.
    """
    package = sys.modules[name]

    def load(attr: str):
        target = exports[attr]
        module_name, _, member = target.partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, member) if member else module

    def __getattr__(attr: str):
        if attr in exports:
            value = load(attr)
        elif not attr.startswith("__") and importlib.util.find_spec(f"{name}.{attr}") is not None:
            value = importlib.import_module(f"{name}.{attr}")
        else:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        package.__dict__[attr] = value
        return value

    def __dir__():
        return sorted(set(package.__dict__) | set(exports))

    class _Package(types.ModuleType):
        def __setattr__(self, attr, value):
            # Importing submodule jaxfair.evaluate binds it as jaxfair.evaluate; the public name
            # is the function of that module, as it was when the package imported it eagerly.
            target = exports.get(attr, "")
            if isinstance(value, types.ModuleType) and target.partition(":")[0] == value.__name__ and ":" in target:
                value = getattr(value, target.partition(":")[2])
            super().__setattr__(attr, value)

    package.__class__ = _Package
    return __getattr__, __dir__
