"""What the bench tells the operator: progress lines and fatal errors."""

import sys
import time


def log(msg):
    stamp = time.strftime("%H:%M:%S")
    print("[%s] %s" % (stamp, msg), flush=True)


def die(msg):
    print("bench: error: " + msg, file=sys.stderr, flush=True)
    sys.exit(2)
