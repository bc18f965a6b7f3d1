"""The demo app with two extra routes that show the agent's view from inside
the process, through the Python API (until the WebSocket server lands, this
is how the demo looks at a live profile):

    GET /_spy/top?limit=15&window=10   spyagent.top() rows
    GET /_spy/status                   spyagent.status()
    GET /_spy/dump                     spyagent.dump()

Run:  LD_PRELOAD=build/agent/libspyagent.so PYTHONPATH=build/agent \\
          /usr/bin/python3.11 -m uvicorn demo_app:app --app-dir examples
"""

from typing import Optional

import spyagent
from main import app


@app.get("/_spy/top")
def spy_top(limit: int = 15, window: Optional[int] = None, idle: bool = False):
    return spyagent.top(limit=limit, window=window, idle=idle)


@app.get("/_spy/status")
def spy_status():
    return spyagent.status()


@app.get("/_spy/dump")
def spy_dump():
    return spyagent.dump()
