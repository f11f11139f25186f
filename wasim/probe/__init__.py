"""`wasim probe`: learn a backend nobody has measured yet, and write a scenario for it.

`probe(ProbeOptions(url=...))` checks the webhook handshake and signature, the token, the push
transports at their usual paths, where one signed message shows (each transport's events, the
polling endpoints) and writes a scenario file that `wasim bench` runs unchanged;
`scenario_text(report)` is that file's text.
"""

from wasim.probe.models import ProbeOptions, ProbeReport
from wasim.probe.run import probe
from wasim.probe.scenario import scenario_text

__all__ = ["ProbeOptions", "ProbeReport", "probe", "scenario_text"]
