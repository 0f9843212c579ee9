import sys

try:  # a Ctrl-C before main's own handling starts (cli.py sees to one during its imports): one line, 130
    from .tool.cli import main
    from .tool.console import ignore_stops
    code = main(prog="python -m microgpt")
    # the work is done: a Ctrl-C (or SIGTERM, SIGHUP) now would only interrupt Python's own shutdown
    ignore_stops()
except KeyboardInterrupt:
    sys.stderr.write("python -m microgpt: interrupted\n")
    code = 130
raise SystemExit(code)
