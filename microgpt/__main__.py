try:  # a Ctrl-C before main has started (cli.py sees to one during its imports): one line, exit 130
    from .cli import main
except KeyboardInterrupt:
    import sys
    sys.stderr.write("python -m microgpt: interrupted\n")
    raise SystemExit(130)
raise SystemExit(main(prog="python -m microgpt"))
