#!/usr/bin/env bash
# Opens a report page (`imprl report`) in headless Chromium and checks what a reader would see:
# the page loads from disk with no console error, no uncaught exception and no network request
# (only file: and data: URLs), every figure (`figure.imprl-figure`, as many as the page's
# `data-figures`) is displayed at a non-zero size (an <img> also decoded), and it writes a
# screenshot of the whole page.
#
#   tests/browser/report_page.sh REPORT.html [SCREENSHOT.png]    # default: REPORT.png
#
# Needs Debian's `chromium` (CHROMIUM=path to use another) and python3 (standard library only):
# the DevTools protocol is spoken over Chromium's --remote-debugging-pipe (file descriptors 3 and
# 4, messages separated by NUL bytes), so no websocket client and no npm package is needed.
# Exit status 0 when every check passed; 1 with the failed checks on stderr otherwise.
set -euo pipefail

[ $# -ge 1 ] && [ $# -le 2 ] || {
    echo "usage: $0 REPORT.html [SCREENSHOT.png]" >&2
    exit 2
}
page=$(realpath -- "$1")
shot=$(realpath -m -- "${2:-${1%.html}.png}")
[ -f "$page" ] || {
    echo "report page check: no such file: $1" >&2
    exit 1
}
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || {
    echo "report page check: $chromium not found (apt-get install chromium)" >&2
    exit 1
}
command -v python3 >/dev/null || {
    echo "report page check: python3 not found" >&2
    exit 1
}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

python3 - "$chromium" "$profile" "$page" "$shot" <<'PYTHON'
import base64, json, os, select, subprocess, sys, time

chromium, profile, page, shot = sys.argv[1:5]
DEADLINE = time.monotonic() + 90

# Chromium reads commands from fd 3 and writes replies and events to fd 4.
to_chrome_r, to_chrome_w = os.pipe()
from_chrome_r, from_chrome_w = os.pipe()

def wire_fds():
    hi_r = os.dup(to_chrome_r)  # dup first so that dup2 below cannot clobber the other end
    hi_w = os.dup(from_chrome_w)
    os.dup2(hi_r, 3)
    os.dup2(hi_w, 4)

args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--remote-debugging-pipe",
        "--window-size=1280,1800", "--hide-scrollbars", "about:blank"]
log = open(os.path.join(profile, "chromium.log"), "wb")
proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        preexec_fn=wire_fds, pass_fds=(3, 4))
os.close(to_chrome_r)
os.close(from_chrome_w)

buf = b""
events = []
next_id = 0

def fail_now(msg):
    sys.stderr.write(f"report page check: {msg}\n")
    proc.kill()
    log.close()
    tail = open(os.path.join(profile, "chromium.log"), "rb").read()[-2000:]
    if tail:
        sys.stderr.write("---- chromium's output:\n" + tail.decode(errors="replace") + "\n")
    sys.exit(1)

def read_message():
    global buf
    while b"\0" not in buf:
        left = DEADLINE - time.monotonic()
        if left <= 0:
            fail_now("timed out waiting for Chromium")
        ready, _, _ = select.select([from_chrome_r], [], [], left)
        if not ready:
            continue
        chunk = os.read(from_chrome_r, 1 << 20)
        if not chunk:
            fail_now("Chromium closed its DevTools pipe (did it start?)")
        buf += chunk
    msg, buf = buf.split(b"\0", 1)
    return json.loads(msg)

def send(method, params=None, session=None):
    """Sends a command and returns its result; events that arrive meanwhile are kept."""
    global next_id
    next_id += 1
    msg = {"id": next_id, "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    os.write(to_chrome_w, json.dumps(msg).encode() + b"\0")
    while True:
        m = read_message()
        if m.get("id") == next_id:
            if "error" in m:
                fail_now(f"{method}: {m['error']}")
            return m.get("result", {})
        events.append(m)

def wait_event(method):
    for e in events:
        if e.get("method") == method:
            return e
    while True:
        m = read_message()
        events.append(m)
        if m.get("method") == method:
            return m

target = send("Target.createTarget", {"url": "about:blank"})["targetId"]
session = send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
for domain in ("Page", "Runtime", "Log", "Network"):
    send(f"{domain}.enable", session=session)
send("Page.navigate", {"url": "file://" + page}, session=session)
wait_event("Page.loadEventFired")

# Every figure: its image element's box (and, for an <img>, that it decoded).
probe = """(() => {
  const figs = [...document.querySelectorAll('figure.imprl-figure')];
  return {
    declared: Number(document.body.dataset.figures),
    figures: figs.map(f => {
      const el = f.querySelector(':scope > svg, :scope > img');
      const r = el ? el.getBoundingClientRect() : {width: 0, height: 0};
      return {id: f.id, tag: el ? el.tagName.toLowerCase() : null,
              width: r.width, height: r.height,
              decoded: !el || el.tagName.toLowerCase() !== 'img' ||
                       (el.complete && el.naturalWidth > 0)};
    }),
    tables: document.querySelectorAll('table').length,
  };
})()"""
result = send("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session=session)
info = result["result"]["value"]
# The whole page (up to 16,000 CSS pixels down: Chromium's limit for one capture).
size = send("Page.getLayoutMetrics", session=session)["cssContentSize"]
clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 16000), "scale": 1}
shot_data = send("Page.captureScreenshot", {"format": "png", "clip": clip,
                                             "captureBeyondViewport": True}, session=session)["data"]
with open(shot, "wb") as f:
    f.write(base64.b64decode(shot_data))
send("Browser.close")
try:
    proc.wait(timeout=10)
except subprocess.TimeoutExpired:
    proc.kill()

# Any events still in the pipe.
while True:
    ready, _, _ = select.select([from_chrome_r], [], [], 0)
    if not ready:
        break
    chunk = os.read(from_chrome_r, 1 << 20)
    if not chunk:
        break
    buf += chunk
for msg in buf.split(b"\0"):
    if msg.strip():
        events.append(json.loads(msg))

problems = []
for e in events:
    method, p = e.get("method"), e.get("params", {})
    if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
        problems.append(f"console {p['type']}: {text}")
    elif method == "Runtime.exceptionThrown":
        d = p.get("exceptionDetails", {})
        problems.append(f"uncaught exception: {d.get('exception', {}).get('description', d.get('text'))}")
    elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
        problems.append(f"console error ({p['entry'].get('source')}): {p['entry'].get('text')}")
    elif method == "Network.requestWillBeSent":
        url = p.get("request", {}).get("url", "")
        if not (url.startswith("file:") or url.startswith("data:")):
            problems.append(f"network request: {url}")
    elif method == "Network.loadingFailed":
        problems.append(f"a resource failed to load: {p.get('errorText')}")

figs = info["figures"]
if not figs:
    problems.append("the page shows no figure")
if info["declared"] != len(figs):
    problems.append(f"the page declares {info['declared']} figures and shows {len(figs)}")
for f in figs:
    if f["tag"] is None:
        problems.append(f"figure {f['id']} has no image")
    elif not (f["width"] > 0 and f["height"] > 0):
        problems.append(f"figure {f['id']} is displayed at {f['width']}x{f['height']}")
    elif not f["decoded"]:
        problems.append(f"figure {f['id']}: its image did not decode")

if problems:
    for p in problems:
        sys.stderr.write(f"report page check: {p}\n")
    sys.exit(1)
sizes = ", ".join(f"{f['width']:.0f}x{f['height']:.0f}" for f in figs)
print(f"report page check: OK: {len(figs)} figures displayed ({sizes}), {info['tables']} tables, "
      f"no console error, no network request; screenshot {shot}")
PYTHON
