"""Not the package: the package is `src/` (installed as `flowtime`).

Python run in the folder *above* a clone named `flowtime` finds this folder first and would
import it as an empty namespace package (`module 'flowtime' has no attribute …`). This file
makes that folder a regular package that steps aside: it imports the installed `flowtime`
with the clone's parent folder left out of the search, and puts it in its place.
The step-aside happens only under the name `flowtime`; under any other name (a test runner
collecting the clone folder as a package) this file does nothing.
"""

if __name__ == "flowtime":
    import importlib
    import os
    import sys

    _here = os.path.dirname(os.path.abspath(__file__))
    _parent = os.path.dirname(_here)
    _saved = list(sys.path)
    sys.path[:] = [p for p in sys.path
                   if os.path.abspath(p or os.getcwd()) != _parent]
    _name = __name__
    del sys.modules[_name]
    try:
        _real = importlib.import_module(_name)
    except ImportError as exc:
        raise ImportError(
            f"'{_name}' here is the flowtime source folder {_here}, not the installed package: "
            "install it (`make demo` in that folder creates .venv) or run Python from another "
            "folder") from exc
    finally:
        sys.path[:] = _saved
    if os.path.abspath(getattr(_real, "__file__", "") or "") == os.path.abspath(__file__):
        raise ImportError(f"the flowtime source folder {_here} shadows the package")
    sys.modules[_name] = _real
