"""twistune's settings shim, run by Python's `site` as the interpreter starts.

twistune puts this directory first on PYTHONPATH and the settings in
TWISTUNE_SHIM_SETTINGS (`harness._run.command_child.shim_env`); nothing else puts it
there. In order, this file:

1. takes its directory out of PYTHONPATH and `sys.path`, so Pythons the
   program starts are not patched again;
2. imports the next `sitecustomize` on the path, if there is one (the one it
   shadows, as ddtrace's bootstrap does), reporting its errors as `site`
   would, and leaves it in `sys.modules["sitecustomize"]`;
3. imports `harness._apply.patch` from the twistune next to it (its directory is on
   `sys.path` only meanwhile) and calls `start_from_environment()` (reactor,
   the post-import patch of `twisted.internet.tcp`, reports), then forgets the
   `harness` modules it imported, so a program with its own `harness` package
   imports that one.

Python ignores PYTHONPATH under `-I` and `-E`, and `-S` skips `site`: such a
program never loads the settings, and twistune says so.
"""

import importlib
import os
import sys


def _twistune_shim() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))  # above harness/_apply/shim

    def is_here(entry: str) -> bool:
        return bool(entry) and os.path.abspath(entry) == here

    kept = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and not is_here(p)]
    if kept:
        os.environ["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        os.environ.pop("PYTHONPATH", None)
    sys.path[:] = [p for p in sys.path if not is_here(p)]

    ours = sys.modules.pop("sitecustomize", None)
    try:
        importlib.import_module("sitecustomize")  # the next one on the path, if any
    except Exception as exc:
        if not (isinstance(exc, ImportError) and exc.name == "sitecustomize"):
            _site_error(exc)
        # site's `import sitecustomize` reads the module back from sys.modules.
        if ours is not None:
            sys.modules["sitecustomize"] = ours

    before = set(sys.modules)
    sys.path.insert(0, root)
    try:
        from harness._apply import patch

        patch.start_from_environment()
    except Exception as exc:
        _shim_error(exc)
    finally:
        sys.path.remove(root)
        for name in set(sys.modules) - before:
            if name == "harness" or name.startswith("harness."):
                del sys.modules[name]


def _site_error(exc: BaseException) -> None:
    # What site.execsitecustomize prints for an error in sitecustomize.
    if sys.flags.verbose:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    else:
        sys.stderr.write(
            "Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
            f"{type(exc).__name__}: {exc}\n"
        )


def _shim_error(exc: BaseException) -> None:
    # The settings cannot be applied (twistune does not import in this Python): say so
    # where the caller looks, and let the program run as it would without twistune.
    import json

    detail = f"twistune's shim failed in {sys.executable}: {type(exc).__name__}: {exc}"
    fd_text = os.environ.pop("TWISTUNE_SHIM_REPORT_FD", "")
    os.environ.pop("TWISTUNE_SHIM_SETTINGS", None)
    os.environ.pop("TWISTUNE_SHIM_OBSERVERS", None)
    try:
        if fd_text:
            message = {"event": "error", "kind": "shim", "detail": detail}
            os.write(int(fd_text), (json.dumps(message) + "\n").encode())
        else:
            os.write(2, f"twistune: error: {detail}\n".encode())
    except (OSError, ValueError):
        pass


_twistune_shim()
del _twistune_shim
