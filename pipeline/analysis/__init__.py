"""Analysers fed by the one decode, and the host that feeds them.

``analyser``: what an analyser declares (stage, version, settings, frames, reads, report section);
``stream``: the frame stream as analysers see it; ``versions``: stage versions with settings folded
in; ``host``: feeding, timing and finishing in dependency order; ``registry``: the product's analysers.
"""
