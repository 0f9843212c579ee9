import signal
import sys

try:  # a Ctrl-C before main's own handling starts (cli.py sees to one during its imports): one line, 130
    from .tool.cli import main
    code = main(prog="python -m microgpt")
    # the work is done: a Ctrl-C now would only interrupt Python's own shutdown, with its traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
except KeyboardInterrupt:
    sys.stderr.write("python -m microgpt: interrupted\n")
    code = 130
raise SystemExit(code)
