"""Analysers fed by the one decode, and the host that feeds them.

``analyser``: what an analyser declares (stage, version, which frames, what it reads);
``host``: feeding each analyser at its stride, timing, finishing in dependency order.
"""
