"""Console entry points (``setup.py``'s ``console_scripts``): ``seedcat-train``, ``seedcat-sweep``,
``seedcat-collect``, ``seedcat-patterns`` and ``seedcat-quickstart``; ``scripts/*.py`` are shims over them.

Each module's ``main(argv=None) -> int`` parses, runs and returns the exit status through
``console.run_command``: a bad flag or bad input ends with one ``error: ...`` line and status 2.
"""
